// Batching of variable-length token rows for the scorer and the generator: rows sorted by
// length into batches bounded in rows and padded tokens, and right-padded id tensors. Right
// padding needs no attention mask: under the causal mask a real token never sees the padding
// after it, so row i's logits at positions < len(i) are those of row i alone.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <vector>

namespace yz {

// Indices into `lengths`, longest first (stable), cut into batches of at most `rows` items whose
// padded size rows × longest stays within `tokens` (a single longer row still gets a batch).
std::vector<std::vector<size_t>> length_batches(const std::vector<int64_t>& lengths, int64_t rows,
                                                int64_t tokens);

// [B, max length] int64 on `device`, each row right-padded with `pad`.
torch::Tensor padded_rows(const std::vector<const std::vector<int32_t>*>& rows,
                          const torch::Device& device, int32_t pad = 0);

}  // namespace yz
