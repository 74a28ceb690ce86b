// Autoregressive generation with the KV cache: prefill the prompt, then one token per step until
// a stop id or the token limit. Used by `youzhi generate`, the demo and the tests.
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

}  // namespace yz
