// Offline throughput benchmark with vLLM's `bench throughput` semantics
// (vllm/benchmarks/throughput.py): N random prompts of exactly input_len tokens, all submitted
// at once, each generating exactly output_len tokens (ignore_eos), timed from submission to the
// last token. Decoding is greedy unless a temperature is given (vLLM samples at temperature 1;
// ours samples through a full sort per token to keep `youzhi generate`'s seeded semantics, which
// would put the sampler rather than the engine in the figure). Reports requests/s, total and output tokens/s like vLLM,
// plus what an MLA conversion is for: KV tokens, the computed maximum concurrency, and the
// number of sequences actually held at once.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

#include "serve/engine.h"

namespace yz::serve {

struct ThroughputRequest {
  int64_t input_len = 1024, output_len = 128, num_prompts = 1000;
  uint64_t seed = 0;
  double temperature = 0;
};

// Runs the benchmark on a fresh engine built from `config` (max_model_len defaults to
// input_len + output_len). Returns vLLM's keys (requests_per_second, tokens_per_second,
// output_tokens_per_second, elapsed_time, num_requests, total_num_tokens) and ours (kv_tokens,
// max_concurrency, peak_running, mean_running, preemptions, model facts).
nlohmann::ordered_json run_throughput(EngineConfig config, const ThroughputRequest& request);

}  // namespace yz::serve
