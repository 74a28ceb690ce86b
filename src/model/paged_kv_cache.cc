// Paged KV cache storage (see paged_kv_cache.h).
#include "model/paged_kv_cache.h"

#include "util/error.h"

namespace yz {

int64_t PagedKvCache::bytes_per_block(const ModelConfig& c, int64_t block_size, at::ScalarType dtype) {
  return block_size * c.kv_elements_per_token() * static_cast<int64_t>(c10::elementSize(dtype));
}

PagedKvCache::PagedKvCache(const ModelConfig& c, int64_t num_blocks, int64_t block_size,
                           at::ScalarType dtype, at::Device device)
    : num_blocks_(num_blocks), block_size_(block_size) {
  YZ_CHECK(num_blocks > 0 && block_size > 0, "paged KV cache needs positive blocks and block size");
  const int64_t nb = num_blocks, bs = block_size;
  storage_ = at::empty({nb * bs * c.kv_elements_per_token()}, at::TensorOptions().dtype(dtype).device(device));
  int64_t offset = 0;
  auto region = [&](int64_t heads, int64_t width) {  // [nb, heads, bs, width] at `offset`
    at::Tensor t = storage_.narrow(0, offset, nb * heads * bs * width).view({nb, heads, bs, width});
    offset += nb * heads * bs * width;
    return t;
  };
  for (int64_t l = 0; l < c.num_hidden_layers; ++l) {
    if (c.family == Family::kGqa) {
      keys_.push_back(region(c.num_key_value_heads, c.head_dim));
      values_.push_back(region(c.num_key_value_heads, c.head_dim));
    } else {
      const MlaLayerDims& d = c.mla_layers[l];
      at::Tensor rows = region(1, d.kv_lora_rank + d.qk_rope_head_dim);
      keys_.push_back(rows);
      values_.push_back(rows.narrow(-1, 0, d.kv_lora_rank));
    }
  }
  YZ_ASSERT(offset == storage_.numel(), "paged KV cache layout does not fill its allocation");
}

}  // namespace yz
