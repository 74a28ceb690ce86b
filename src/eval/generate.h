// Greedy generation for many prompts, as the generative benchmarks (FinBen, FinLoRA) run it:
// prompts truncated from the left to leave room for the answer (lm-eval generate_until), the
// prompts' prefill batched (right-padded, documents of similar length together), then prompts of
// equal length decode together from their rows of the batch's KV cache (the same positions: no
// mask needed) until a stop id, the token limit, or until the caller says an answer can no
// longer change.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "model/causal_lm.h"

namespace yz {

struct GenerateOptions {
  int64_t max_new_tokens = 10;
  int64_t max_length = 2048;    // model window: prompts keep their last max_length - max_new_tokens
  int64_t batch = 16;           // prompts per prefill forward
  int64_t batch_tokens = 8192;  // and at most this many (padded) tokens per prefill
  std::vector<int32_t> stop_ids;  // end-of-sequence ids (kept as the last generated id)
  bool progress = true;
};

struct GenerateStats {
  int64_t truncated_docs = 0;
  int64_t truncated_tokens = 0;
  int64_t forwards = 0;
  int64_t new_tokens = 0;
};

// Called after every new token of prompt `i` with everything generated so far; true ends that
// prompt early. Only sound when further tokens cannot change the score (see metrics.h).
using StopRule = std::function<bool(size_t i, const std::vector<int32_t>& generated)>;

std::vector<std::vector<int32_t>> generate_greedy(CausalLm& lm,
                                                  const std::vector<std::vector<int32_t>>& prompts,
                                                  const GenerateOptions& options,
                                                  const StopRule& done = nullptr,
                                                  GenerateStats* stats = nullptr);

}  // namespace yz
