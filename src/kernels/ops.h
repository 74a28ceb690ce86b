// Tensor-level entry points of the kernels layer: each validates its inputs, runs the CUDA
// kernel for CUDA tensors (CUDA builds) and the libtorch reference otherwise.
#pragma once

#include <ATen/ATen.h>

namespace yz::kernels {

bool cuda_kernels_built();  // true when this binary has the .cu kernels
bool cuda_available();      // a CUDA device is usable
// The CUDA ordinal of `d` for the memory queries below: an unindexed "cuda" device is device 0.
inline int device_ordinal(const at::Device& d) { return d.index() < 0 ? 0 : d.index(); }

// Peak bytes allocated by the CUDA caching allocator on `device` since the last reset (0 on
// CPU builds), for per-phase memory reports.
int64_t device_peak_bytes(int device);
void reset_device_peak(int device);
// Bytes currently allocated by it (0 on CPU builds): a phase's own peak is peak − this.
int64_t device_allocated_bytes(int device);

// A CUDA device's memory as the serving engine's KV sizing needs it (vLLM's
// determine_available_memory): free and total from the driver, and what the caching allocator
// holds. All zero on CPU builds.
struct DeviceMemory {
  int64_t free = 0, total = 0;          // cudaMemGetInfo
  int64_t torch_reserved = 0;           // caching allocator: reserved from the driver
  int64_t torch_reserved_peak = 0;      // caching allocator: the most it has reserved
  int64_t torch_allocated = 0;          // caching allocator: in tensors now
};
DeviceMemory device_memory(int device);

// x: [..., cols] float32 or bfloat16; weight: [cols] of the same dtype and device.
at::Tensor rms_norm(const at::Tensor& x, const at::Tensor& weight, double eps);
// The libtorch reference the kernel is tested against (transformers' LlamaRMSNorm.forward).
at::Tensor rms_norm_reference(const at::Tensor& x, const at::Tensor& weight, double eps);

}  // namespace yz::kernels
