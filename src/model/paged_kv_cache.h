// The serving engine's KV cache: ONE allocation split into fixed-size blocks of `block_size`
// tokens, laid out layer by layer so that every layer's rows keep their own width (an adaptive
// MLA plan with per-layer r and d_r wastes no padding): an MLA layer holds [c ‖ k_pe] rows of
// r_l + d_r,l elements, a GQA layer K and V of G·D each. Block b holds tokens of the same
// request in every layer, so one block table serves all layers. Bytes per block =
// block_size × kv_elements_per_token × element size — the figure vLLM's accounting divides the
// free memory by (serving.md §1.1).
#pragma once

#include <ATen/ATen.h>

#include <cstdint>
#include <vector>

#include "kernels/attention.h"
#include "model/config.h"

namespace yz {

class PagedKvCache {
 public:
  PagedKvCache(const ModelConfig& config, int64_t num_blocks, int64_t block_size,
               at::ScalarType dtype, at::Device device);
  static int64_t bytes_per_block(const ModelConfig& config, int64_t block_size, at::ScalarType dtype);

  int64_t num_blocks() const { return num_blocks_; }
  int64_t block_size() const { return block_size_; }
  size_t allocated_bytes() const { return storage_.numel() * storage_.element_size(); }
  // Layer `l` as [num_blocks, kv_heads, block_size, D] views of the allocation: GQA keys and
  // values; MLA: keys = the [c ‖ k_pe] rows (one shared head), values = their first r columns.
  const at::Tensor& keys(int64_t l) const { return keys_[l]; }
  const at::Tensor& values(int64_t l) const { return values_[l]; }

 private:
  int64_t num_blocks_, block_size_;
  at::Tensor storage_;  // [num_blocks × block_size × kv_elements_per_token]
  std::vector<at::Tensor> keys_, values_;  // [num_hidden_layers]
};

// One engine step over the paged cache: where each new token's rows go and which blocks each
// sequence reads. The model's forward gets it through ForwardContext.
struct PagedBatch {
  PagedKvCache* cache = nullptr;
  at::Tensor slot_mapping;  // [N] int64: block × block_size + offset of each new token
  kernels::PagedSeqs seqs;
};

}  // namespace yz
