// CUDA attention bindings: tile lists, split-KV sizing and workspaces for paged_attention.cu,
// parameters for cache_write.cu (see attention_cuda.h).
#include "kernels/attention_cuda.h"

#include <ATen/cuda/CUDAContext.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "util/error.h"

namespace yz::kernels {

void paged_attention_cuda(const AttentionParams& p_in, const PagedSeqs& seqs, const at::Tensor& o) {
  AttentionParams p = p_in;
  const int64_t group = p.heads / p.kv_heads;
  std::vector<AttentionTile> tiles;
  int64_t max_keys = 0;
  for (int64_t s = 0; s < p.seqs; ++s) {
    const int64_t q_len = seqs.query_start_host[s + 1] - seqs.query_start_host[s];
    max_keys = std::max<int64_t>(max_keys, seqs.kv_lens_host[s]);
    for (int64_t g = 0; g < p.kv_heads; ++g)
      for (int64_t r0 = 0; r0 < q_len * group; r0 += kAttentionTileRows)
        tiles.push_back({static_cast<int32_t>(s), static_cast<int32_t>(g), static_cast<int32_t>(r0),
                         static_cast<int32_t>(std::min<int64_t>(kAttentionTileRows, q_len * group - r0))});
  }
  if (tiles.empty()) return;
  // Split the keys when the tiles alone would leave SMs idle (FlashDecoding): aim at two
  // blocks per SM, never splits shorter than 256 keys.
  const int sms = at::cuda::getCurrentDeviceProperties()->multiProcessorCount;
  const int64_t want = (2 * sms + static_cast<int64_t>(tiles.size()) - 1) / static_cast<int64_t>(tiles.size());
  const int64_t splits = std::max<int64_t>(1, std::min<int64_t>(want, max_keys / 256));
  int64_t per_split = (max_keys + splits - 1) / splits;
  per_split = (per_split + 63) / 64 * 64;
  PagedLaunch L{};
  at::Tensor tiles_dev = at::empty({static_cast<int64_t>(tiles.size() * sizeof(AttentionTile))},
                                   at::TensorOptions().dtype(at::kByte));
  std::memcpy(tiles_dev.data_ptr(), tiles.data(), tiles.size() * sizeof(AttentionTile));
  tiles_dev = tiles_dev.to(o.device(), /*non_blocking=*/false);
  L.tiles = reinterpret_cast<const AttentionTile*>(tiles_dev.data_ptr());
  L.num_tiles = static_cast<int32_t>(tiles.size());
  L.splits = static_cast<int32_t>(splits);
  L.keys_per_split = static_cast<int32_t>(per_split);
  L.total_tokens = o.size(1);
  at::Tensor part_o, part_lse;
  if (splits > 1) {
    auto f32 = at::TensorOptions().dtype(at::kFloat).device(o.device());
    part_o = at::empty({splits, o.size(1), p.heads, p.dv}, f32);
    part_lse = at::empty({splits, o.size(1), p.heads}, f32);
    L.part_o = part_o.data_ptr<float>();
    L.part_lse = part_lse.data_ptr<float>();
  }
  paged_attention_launch(p, L, at::cuda::getCurrentCUDAStream().stream());
  const cudaError_t err = cudaGetLastError();
  YZ_CHECK(err == cudaSuccess, "paged_attention: CUDA launch failed: ", cudaGetErrorString(err));
}

void cache_write_cuda(const at::Tensor& rows, const at::Tensor& cache, const at::Tensor& slot_mapping) {
  YZ_CHECK(rows.stride(-1) == 1 && cache.stride(-1) == 1, "cache_write: last dims must be contiguous");
  at::Tensor slots = slot_mapping.contiguous();
  CacheWriteParams p{};
  p.rows = rows.data_ptr();
  p.row_tok_stride = rows.stride(0), p.row_head_stride = rows.stride(1);
  p.cache = cache.data_ptr();
  p.block_stride = cache.stride(0), p.head_stride = cache.stride(1), p.row_stride = cache.stride(2);
  p.slots = slots.data_ptr<int64_t>();
  p.n = rows.size(0), p.heads = rows.size(1), p.dim = rows.size(2), p.block_size = cache.size(2);
  p.elem_bytes = static_cast<int>(cache.element_size());
  cache_write_launch(p, at::cuda::getCurrentCUDAStream().stream());
  const cudaError_t err = cudaGetLastError();
  YZ_CHECK(err == cudaSuccess, "cache_write: CUDA launch failed: ", cudaGetErrorString(err));
}

}  // namespace yz::kernels
