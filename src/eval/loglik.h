// Log-likelihood scoring of continuations after a context, with lm-evaluation-harness's
// results (sum of continuation log-probabilities, is_greedy) and its left truncation, computed
// from one shared-prefix forward per document: the context runs once (documents batched,
// right-padded) with the longest continuation riding in its row, and the other multi-token
// continuations continue from its KV cache as one batch (with those of the batch's other
// documents whose contexts have the same length). Single-token choices cost nothing extra.
// lm-eval instead runs context + continuation once per choice (HFLM._loglikelihood_tokens).
#pragma once

#include <cstdint>
#include <vector>

#include "model/causal_lm.h"

namespace yz {

// One document: its context tokens and the continuations scored after it.
struct LoglikRequest {
  std::vector<int32_t> context;                     // non-empty
  std::vector<std::vector<int32_t>> continuations;  // each non-empty, at most max_length tokens
};

struct ContinuationScore {
  double logprob = 0;  // Σ log p(continuation token | everything before it)
  bool greedy = true;  // every continuation token is the argmax at its position
  int64_t tokens = 0;
};

struct LoglikOptions {
  int64_t max_length = 2048;    // model window: longer inputs are truncated from the left
  int64_t batch = 16;           // documents per context forward
  int64_t batch_tokens = 8192;  // and at most this many (padded) tokens per forward
  bool progress = true;
};

struct LoglikStats {
  int64_t truncated_docs = 0;    // documents that lost context tokens to the window
  int64_t truncated_tokens = 0;  // context tokens dropped (per document, the largest cut)
  int64_t forwards = 0;          // model calls
};

// Scores every continuation of every request. As lm-eval, the model sees the last
// max_length + 1 tokens of context + continuation minus the final one; continuations of one
// document that keep different context lengths after truncation are scored from separate
// prefixes, so every score equals lm-eval's for its own request.
std::vector<std::vector<ContinuationScore>> score_loglik(CausalLm& lm,
                                                         const std::vector<LoglikRequest>& requests,
                                                         const LoglikOptions& options,
                                                         LoglikStats* stats = nullptr);

}  // namespace yz
