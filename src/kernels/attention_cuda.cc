// CUDA attention bindings: tile lists, split-KV sizing and workspaces for paged_attention.cu,
// parameters for cache_write.cu (see attention_cuda.h).
#include "kernels/attention_cuda.h"

#include <ATen/cuda/CUDAContext.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "util/error.h"

namespace yz::kernels {

namespace {

// Tiles of up to kAttentionTileRows query rows per (sequence, KV head) and the split-KV layout.
PagedLaunchPlan plan_launch(int64_t heads, int64_t kv_heads, const PagedSeqs& seqs,
                            const at::Device& device) {
  const int64_t group = heads / kv_heads;
  const int64_t num_seqs = static_cast<int64_t>(seqs.kv_lens_host.size());
  std::vector<AttentionTile> tiles;
  int64_t max_keys = 0;
  for (int64_t s = 0; s < num_seqs; ++s) {
    const int64_t q_len = seqs.query_start_host[s + 1] - seqs.query_start_host[s];
    max_keys = std::max<int64_t>(max_keys, seqs.kv_lens_host[s]);
    for (int64_t g = 0; g < kv_heads; ++g)
      for (int64_t r0 = 0; r0 < q_len * group; r0 += kAttentionTileRows)
        tiles.push_back({static_cast<int32_t>(s), static_cast<int32_t>(g), static_cast<int32_t>(r0),
                         static_cast<int32_t>(std::min<int64_t>(kAttentionTileRows, q_len * group - r0))});
  }
  PagedLaunchPlan plan;
  plan.num_tiles = static_cast<int64_t>(tiles.size());
  if (tiles.empty()) return plan;
  // Split the keys when the tiles alone would leave SMs idle (FlashDecoding), never into splits
  // shorter than 256 keys. A GQA tile (one 128-wide head) fits two blocks per SM: aim at two
  // blocks per SM. An absorbed-MLA tile (one shared head of r + d_r, up to ~200 KB of shared
  // memory) runs one block per SM, in waves: take the split count with the fewest key tiles on
  // the busiest SM, waves x tiles per split, ties to fewer splits (less combine work). Batch 64 at
  // 4096 keys: 2 splits in one wave of 32 key tiles, where "two per SM" gave 5 splits, 3 waves of
  // 13 (H200, bench_attention: with the row-wise loads, 1.5-1.8x faster MLA decode at batch >= 32).
  const int64_t sms = at::cuda::getCurrentDeviceProperties()->multiProcessorCount;
  const int64_t max_splits = std::max<int64_t>(1, max_keys / 256);
  if (kv_heads > 1) {
    const int64_t want = (2 * sms + plan.num_tiles - 1) / plan.num_tiles;
    plan.splits = std::min<int64_t>(want, max_splits);
  } else {
    int64_t best_cost = -1;
    for (int64_t s = 1; s <= max_splits; ++s) {
      const int64_t waves = (plan.num_tiles * s + sms - 1) / sms;
      const int64_t cost = waves * (((max_keys + s - 1) / s + 63) / 64);
      if (best_cost < 0 || cost < best_cost) plan.splits = s, best_cost = cost;
    }
  }
  plan.keys_per_split = ((max_keys + plan.splits - 1) / plan.splits + 63) / 64 * 64;
  at::Tensor host = at::empty({static_cast<int64_t>(tiles.size() * sizeof(AttentionTile))},
                              at::TensorOptions().dtype(at::kByte));
  std::memcpy(host.data_ptr(), tiles.data(), tiles.size() * sizeof(AttentionTile));
  plan.tiles = host.to(device);
  return plan;
}

}  // namespace

void prepare_paged_launch_cuda(const PagedSeqs& seqs, int64_t heads, int64_t kv_heads,
                               const at::Device& device) {
  auto key = std::make_pair(heads, kv_heads);
  if (!seqs.cuda_plans->count(key)) seqs.cuda_plans->emplace(key, plan_launch(heads, kv_heads, seqs, device));
}

void paged_attention_cuda(const AttentionParams& p, const PagedSeqs& seqs, const at::Tensor& o) {
  prepare_paged_launch_cuda(seqs, p.heads, p.kv_heads, o.device());
  const PagedLaunchPlan& plan = seqs.cuda_plans->at(std::make_pair(p.heads, p.kv_heads));
  if (plan.num_tiles == 0) return;
  PagedLaunch L{};
  L.tiles = reinterpret_cast<const AttentionTile*>(plan.tiles.data_ptr());
  L.num_tiles = static_cast<int32_t>(plan.num_tiles);
  L.splits = static_cast<int32_t>(plan.splits);
  L.keys_per_split = static_cast<int32_t>(plan.keys_per_split);
  L.total_tokens = o.size(1);
  at::Tensor part_o, part_lse;
  if (plan.splits > 1) {
    auto f32 = at::TensorOptions().dtype(at::kFloat).device(o.device());
    part_o = at::empty({plan.splits, o.size(1), p.heads, p.dv}, f32);
    part_lse = at::empty({plan.splits, o.size(1), p.heads}, f32);
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
