// Perplexity over consecutive non-overlapping windows of `ctx` tokens; each window scores its
// ctx-1 next-token predictions (no stride/overlap, as transformers-based scripts that chunk).
#pragma once

#include <cstdint>
#include <vector>

#include "model/causal_lm.h"

namespace yz {

struct PplResult {
  double nll = 0;      // mean negative log-likelihood per scored token (nats)
  double ppl = 0;      // exp(nll)
  int64_t tokens = 0;  // predictions scored
  int64_t chunks = 0;
};

struct PplOptions {
  int64_t ctx = 1024;
  int64_t max_chunks = 0;  // 0 = all full windows
  int64_t batch = 1;       // windows per forward
  bool progress = true;
};

// Throws when `ids` holds fewer than ctx tokens (no full window).
PplResult perplexity(CausalLm& lm, const std::vector<int32_t>& ids, const PplOptions& options);

}  // namespace yz
