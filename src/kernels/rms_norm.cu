// RMSNorm CUDA kernel: one block per row, float32 accumulation (see params.h for the math).
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include "kernels/params.h"

namespace yz::kernels {

namespace {

constexpr int kThreads = 256;

__device__ float to_float(float v) { return v; }
__device__ float to_float(__nv_bfloat16 v) { return __bfloat162float(v); }
template <typename T> __device__ T from_float(float v);
template <> __device__ float from_float<float>(float v) { return v; }
template <> __device__ __nv_bfloat16 from_float<__nv_bfloat16>(float v) {
  return __float2bfloat16(v);
}

template <typename T>
__global__ void rms_norm_kernel(const T* __restrict__ x,       // [rows, cols]
                                const T* __restrict__ weight,  // [cols]
                                T* __restrict__ y,             // [rows, cols]
                                int64_t cols, float eps) {
  const T* row = x + blockIdx.x * cols;
  T* out = y + blockIdx.x * cols;
  float sum = 0.f;
  for (int64_t i = threadIdx.x; i < cols; i += blockDim.x) {
    float v = to_float(row[i]);
    sum += v * v;
  }
  __shared__ float partial[kThreads / 32];
  for (int offset = 16; offset > 0; offset /= 2) sum += __shfl_down_sync(0xffffffff, sum, offset);
  if (threadIdx.x % 32 == 0) partial[threadIdx.x / 32] = sum;
  __syncthreads();
  if (threadIdx.x < 32) {
    sum = threadIdx.x < kThreads / 32 ? partial[threadIdx.x] : 0.f;
    for (int offset = 16; offset > 0; offset /= 2)
      sum += __shfl_down_sync(0xffffffff, sum, offset);
    if (threadIdx.x == 0) partial[0] = sum;
  }
  __syncthreads();
  const float inv = rsqrtf(partial[0] / static_cast<float>(cols) + eps);
  for (int64_t i = threadIdx.x; i < cols; i += blockDim.x) {
    // Cast the normalised value to T before the weight multiply, as LlamaRMSNorm does.
    T normed = from_float<T>(to_float(row[i]) * inv);
    out[i] = from_float<T>(to_float(weight[i]) * to_float(normed));
  }
}

}  // namespace

void rms_norm_launch(const RmsNormParams& p, void* stream) {
  auto s = static_cast<cudaStream_t>(stream);
  if (p.rows == 0) return;
  if (p.dtype == kDTypeF32) {
    rms_norm_kernel<float><<<p.rows, kThreads, 0, s>>>(
        static_cast<const float*>(p.x), static_cast<const float*>(p.weight),
        static_cast<float*>(p.y), p.cols, p.eps);
  } else {
    rms_norm_kernel<__nv_bfloat16><<<p.rows, kThreads, 0, s>>>(
        static_cast<const __nv_bfloat16*>(p.x), static_cast<const __nv_bfloat16*>(p.weight),
        static_cast<__nv_bfloat16*>(p.y), p.cols, p.eps);
  }
}

}  // namespace yz::kernels
