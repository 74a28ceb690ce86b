// CUDA graphs of the decode step (vLLM's CUDA graph runner): a decode step launches ~30 kernels
// per layer, and at small batches the host's launch work, not the GPU, sets the pace. The whole
// forward_paged of a pure-decode step is captured once per batch size (1, 2, 4, 8, then
// multiples of 8) over static input buffers and replayed: a step then costs one replay. Padding
// rows of a smaller batch read and write a dummy block that the scheduler never hands out.
// The attention launch plan of a captured batch is made for max_model_len keys: splits past a
// sequence's real length exit at once. CUDA builds only.
#pragma once

#include <torch/torch.h>

#include <memory>
#include <vector>

#include "model/causal_lm.h"
#include "model/paged_kv_cache.h"

namespace yz::serve {

class DecodeGraphs {
 public:
  // dummy_block: a block of `cache` outside the scheduler's pool. Captures every batch size up to
  // max_batch (largest first, one shared memory pool).
  DecodeGraphs(CausalLm& lm, PagedKvCache& cache, int32_t dummy_block, int64_t max_batch,
               int64_t max_model_len);
  ~DecodeGraphs();

  int64_t max_batch() const { return max_batch_; }
  // Logits [seqs, vocab] of one decode token per sequence: ids/positions/slots [seqs], the block
  // table [seqs × width] (row-major) and kv_lens [seqs]. Valid until the next run().
  at::Tensor run(const std::vector<int64_t>& ids, const std::vector<int64_t>& positions,
                 const std::vector<int64_t>& slots, const std::vector<int32_t>& table, int64_t width,
                 const std::vector<int32_t>& kv_lens);
  // Device memory the captured graphs hold (their private pool), for the startup report.
  int64_t pool_bytes() const { return pool_bytes_; }

 private:
  struct Graph;
  int64_t pick(int64_t seqs) const;

  int64_t max_batch_, max_blocks_;
  int32_t dummy_block_;
  int64_t block_size_;
  at::Tensor i64_;     // [3 × max_batch]: ids, positions, slots
  at::Tensor i32_;     // [max_batch × max_blocks + max_batch]: block tables, kv_lens
  at::Tensor qstart_;  // [max_batch + 1] int32: 0, 1, 2, ... (one token per sequence)
  at::Tensor rows_;    // [max_batch] int64: 0, 1, 2, ... (every token samples)
  std::vector<std::unique_ptr<Graph>> graphs_;  // ascending batch size
  int64_t pool_bytes_ = 0;
};

}  // namespace yz::serve
