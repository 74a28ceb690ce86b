// The only kernels/ file that sees at::Tensor: validate, fill params, launch (style.md #5).
#include "kernels/ops.h"

#include <ATen/Context.h>

#include "kernels/params.h"
#include "util/error.h"

#ifdef YZ_WITH_CUDA
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDACachingAllocator.h>
#endif

namespace yz::kernels {

bool cuda_kernels_built() {
#ifdef YZ_WITH_CUDA
  return true;
#else
  return false;
#endif
}

bool cuda_available() { return at::hasCUDA(); }

int64_t device_peak_bytes(int device) {
#ifdef YZ_WITH_CUDA
  namespace alloc = c10::cuda::CUDACachingAllocator;
  (void)at::empty({1}, at::Device(at::kCUDA, static_cast<c10::DeviceIndex>(device)));  // lazy init
  const auto stats = alloc::getDeviceStats(static_cast<c10::DeviceIndex>(device));
  return stats.allocated_bytes[0].peak;  // index 0 = StatType::AGGREGATE (all pools)
#else
  (void)device;
  return 0;
#endif
}

int64_t device_allocated_bytes(int device) {
#ifdef YZ_WITH_CUDA
  namespace alloc = c10::cuda::CUDACachingAllocator;
  (void)at::empty({1}, at::Device(at::kCUDA, static_cast<c10::DeviceIndex>(device)));  // lazy init
  return alloc::getDeviceStats(static_cast<c10::DeviceIndex>(device)).allocated_bytes[0].current;
#else
  (void)device;
  return 0;
#endif
}

void reset_device_peak(int device) {
#ifdef YZ_WITH_CUDA
  // The allocator refuses device queries until CUDA is initialised; a tiny allocation does it.
  (void)at::empty({1}, at::Device(at::kCUDA, static_cast<c10::DeviceIndex>(device)));
  c10::cuda::CUDACachingAllocator::resetPeakStats(static_cast<c10::DeviceIndex>(device));
#else
  (void)device;
#endif
}

DeviceMemory device_memory(int device) {
  DeviceMemory m;
#ifdef YZ_WITH_CUDA
  namespace alloc = c10::cuda::CUDACachingAllocator;
  (void)at::empty({1}, at::Device(at::kCUDA, static_cast<c10::DeviceIndex>(device)));  // lazy init
  size_t free = 0, total = 0;
  YZ_CHECK(cudaMemGetInfo(&free, &total) == cudaSuccess, "cudaMemGetInfo failed");
  m.free = static_cast<int64_t>(free), m.total = static_cast<int64_t>(total);
  const auto stats = alloc::getDeviceStats(static_cast<c10::DeviceIndex>(device));
  m.torch_reserved = stats.reserved_bytes[0].current;
  m.torch_reserved_peak = stats.reserved_bytes[0].peak;
  m.torch_allocated = stats.allocated_bytes[0].current;
#else
  (void)device;
#endif
  return m;
}

at::Tensor rms_norm_reference(const at::Tensor& x, const at::Tensor& weight, double eps) {
  at::Tensor h = x.to(at::kFloat);
  h = h * at::rsqrt(h.pow(2).mean(-1, /*keepdim=*/true) + eps);
  return weight * h.to(x.scalar_type());
}

at::Tensor rms_norm(const at::Tensor& x, const at::Tensor& weight, double eps) {
  YZ_CHECK(x.dim() >= 1 && weight.dim() == 1 && x.size(-1) == weight.size(0),
           "rms_norm: x [..., ", x.size(-1), "] and weight [", weight.size(0),
           "] disagree in the last dimension");
  YZ_CHECK(x.scalar_type() == weight.scalar_type(), "rms_norm: x and weight dtypes differ");
  YZ_CHECK(x.device() == weight.device(), "rms_norm: x and weight are on different devices");
  YZ_CHECK(x.scalar_type() == at::kFloat || x.scalar_type() == at::kBFloat16,
           "rms_norm: dtype must be float32 or bfloat16");
  if (!x.is_cuda()) return rms_norm_reference(x, weight, eps);
#ifdef YZ_WITH_CUDA
  at::Tensor xc = x.contiguous(), wc = weight.contiguous();
  at::Tensor y = at::empty_like(xc);
  RmsNormParams p{xc.data_ptr(), wc.data_ptr(), y.data_ptr(), xc.numel() / xc.size(-1),
                  xc.size(-1), static_cast<float>(eps),
                  x.scalar_type() == at::kFloat ? kDTypeF32 : kDTypeBF16};
  rms_norm_launch(p, at::cuda::getCurrentCUDAStream().stream());
  return y;
#else
  YZ_CHECK(false, "rms_norm: CUDA tensor given but this build has no CUDA kernels");
#endif
}

}  // namespace yz::kernels
