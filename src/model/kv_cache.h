// Contiguous per-sequence KV cache for generation. GQA layers keep post-rope keys and values per
// KV head; MLA layers keep only the latent c and the shared post-rope key k_pe per token (the
// whole point of MLA): allocated bytes = kv_bytes_per_token × tokens.
#pragma once

#include <ATen/ATen.h>

#include <utility>
#include <vector>

#include "model/config.h"

namespace yz {

class KvCache {
 public:
  KvCache(const ModelConfig& config, int64_t batch, int64_t capacity, at::ScalarType dtype,
          at::Device device);

  int64_t length() const { return length_; }  // tokens already stored
  int64_t capacity() const { return capacity_; }
  size_t allocated_bytes() const;

  // GQA layer: stores k, v [B, G, T, D] at positions [length, length + T) and returns the
  // filled prefixes [B, G, length + T, D].
  std::pair<at::Tensor, at::Tensor> store_kv(int64_t layer, const at::Tensor& k,
                                             const at::Tensor& v);
  // MLA layer: stores rows [B, T, r + d_r] and returns [B, length + T, r + d_r].
  at::Tensor store_latent(int64_t layer, const at::Tensor& rows);
  // Called once per forward, after every layer stored its T new tokens.
  void advance(int64_t tokens);

  // A new cache whose row i holds the first `length` tokens of row rows[i], with room for
  // `capacity` tokens. A row may repeat: one cached prefix serves a batch of continuations (every
  // choice of a benchmark question after its context) without recomputing it; rows of equal
  // length in a right-padded batch continue together. `length` may be shorter than length().
  KvCache select_rows(const std::vector<int64_t>& rows, int64_t length, int64_t capacity) const;

 private:
  KvCache() = default;
  int64_t capacity_, length_ = 0;
  std::vector<at::Tensor> k_, v_;    // GQA: [B, G, capacity, D] per layer
  std::vector<at::Tensor> latent_;   // MLA: [B, capacity, r_l + d_r,l] per layer
};

}  // namespace yz
