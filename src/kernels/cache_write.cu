// Cache writes on the GPU (vLLM's reshape_and_cache): each new token's rows go to its slot of
// the paged cache, every KV head, 16-byte copies where the widths allow.
#include <cuda_runtime.h>

#include <cstdint>

#include "kernels/params.h"

namespace yz::kernels {

namespace {

template <typename V>  // copy unit: uint4 (16 bytes), uint32_t or uint16_t
__global__ void cache_write_kernel(const CacheWriteParams p, int64_t units_per_row, int64_t unit_elems) {
  const int64_t n = blockIdx.x;
  const int64_t slot = p.slots[n];
  const int64_t block = slot / p.block_size, off = slot % p.block_size;
  const char* src_base = static_cast<const char*>(p.rows);
  char* dst_base = static_cast<char*>(p.cache);
  for (int64_t i = threadIdx.x; i < p.heads * units_per_row; i += blockDim.x) {
    const int64_t h = i / units_per_row, u = i % units_per_row;
    const V* src = reinterpret_cast<const V*>(
        src_base + (n * p.row_tok_stride + h * p.row_head_stride + u * unit_elems) * p.elem_bytes);
    V* dst = reinterpret_cast<V*>(
        dst_base + (block * p.block_stride + h * p.head_stride + off * p.row_stride + u * unit_elems) * p.elem_bytes);
    *dst = *src;
  }
}

bool divisible(const CacheWriteParams& p, int64_t unit_bytes) {
  const int64_t u = unit_bytes / p.elem_bytes;
  return (p.dim * p.elem_bytes) % unit_bytes == 0 && p.row_tok_stride % u == 0 &&
         p.row_head_stride % u == 0 && p.block_stride % u == 0 && p.head_stride % u == 0 &&
         p.row_stride % u == 0 && reinterpret_cast<uintptr_t>(p.rows) % unit_bytes == 0 &&
         reinterpret_cast<uintptr_t>(p.cache) % unit_bytes == 0;
}

}  // namespace

void cache_write_launch(const CacheWriteParams& p, void* stream_ptr) {
  if (p.n == 0) return;
  cudaStream_t stream = static_cast<cudaStream_t>(stream_ptr);
  const unsigned grid = static_cast<unsigned>(p.n);
  if (divisible(p, 16)) {
    const int64_t unit = 16 / p.elem_bytes;
    cache_write_kernel<uint4><<<grid, 128, 0, stream>>>(p, p.dim / unit, unit);
  } else if (divisible(p, 4)) {
    const int64_t unit = 4 / p.elem_bytes;
    cache_write_kernel<uint32_t><<<grid, 128, 0, stream>>>(p, p.dim / unit, unit);
  } else if (p.elem_bytes == 2) {
    cache_write_kernel<uint16_t><<<grid, 128, 0, stream>>>(p, p.dim, 1);
  } else {
    cache_write_kernel<uint32_t><<<grid, 128, 0, stream>>>(p, p.dim, 1);
  }
}

}  // namespace yz::kernels
