// Autoregressive generation with the KV cache: prefill the prompt, then one token per step until
// a stop id or the token limit. Used by `youzhi generate`, the demo, the tests and the trainer's
// on-policy sampling (batched: equal-length prompts share one cache).
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "model/causal_lm.h"
#include "model/sampling.h"

namespace yz {

// Returns the new ids (a stop id, when hit, is the last one). `on_token` sees each new id as it
// is chosen (streaming).
std::vector<int32_t> generate(CausalLm& lm, const std::vector<int32_t>& prompt,
                              int64_t max_new_tokens, Sampler& sampler,
                              const std::vector<int32_t>& stop_ids = {},
                              const std::function<void(int32_t)>& on_token = nullptr);

struct BatchGeneration {
  torch::Tensor ids;             // [B, max_new_tokens] int64 (CPU); past lengths[b]: the stop id
  std::vector<int64_t> lengths;  // new tokens of row b, its stop id included
};

// Rows of `prompts` [B, P] (int64, the model's device) continue together; row b draws with
// *samplers[b], so a row's tokens depend on its own seed and logits only. Ends when every row
// has produced a stop id or after max_new_tokens. `on_step` sees each step's ids [B].
BatchGeneration generate_batch(CausalLm& lm, const torch::Tensor& prompts, int64_t max_new_tokens,
                               const std::vector<Sampler*>& samplers,
                               const std::vector<int32_t>& stop_ids = {},
                               const std::function<void(const std::vector<int32_t>&)>& on_step =
                                   nullptr);

}  // namespace yz
