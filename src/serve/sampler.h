// Next tokens for a whole engine step in one pass over the logits, on their device: greedy rows
// by argmax, sampled rows by the same rule as model/sampling.h's Sampler (stable descending
// order, top-k, temperature, top-p nucleus, one uniform draw from the request's own seeded
// generator scaled by the kept mass), so a request's seed gives the tokens `youzhi generate`
// gives.
#pragma once

#include <ATen/ATen.h>

#include <cstdint>
#include <vector>

#include "model/sampling.h"
#include "serve/engine_api.h"

namespace yz::serve {

// logits: [S, vocab]; samplers[i] belongs to row i (its request). logprobs: fill
// SampledToken::logprob. With top_logprobs > 0, top[i] receives the row's most likely
// (token, logprob) pairs.
std::vector<SampledToken> sample_rows(const at::Tensor& logits, const std::vector<Sampler*>& samplers,
                                      bool logprobs = false, int64_t top_logprobs = 0,
                                      std::vector<std::vector<SampledToken>>* top = nullptr);

}  // namespace yz::serve
