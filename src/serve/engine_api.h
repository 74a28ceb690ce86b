// What a serving engine exchanges with its callers, without libtorch: per-request generation
// parameters, what one step produced, engine-wide counters, and EngineCore, the interface the
// HTTP front end (serve/async_engine.h) drives. serve/engine.h implements it on the model.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "model/sampling_params.h"
#include "serve/request.h"

namespace yz::serve {

struct SampledToken {
  int32_t token;
  float logprob;  // log-softmax of the raw logits (temperature 1), as OpenAI's logprobs; 0 unless asked
};

struct GenerationParams {
  SamplingParams sampling;               // temperature 0 = greedy
  int64_t max_tokens = 16;
  std::vector<int32_t> stop_token_ids;   // in addition to the model's EOS ids
  bool ignore_eos = false;
  bool logprobs = false;                 // report the chosen tokens' log-probabilities
  int64_t top_logprobs = 0;              // and this many alternatives per token (implies logprobs)
};

// What one step produced for one request.
struct StepOutput {
  std::string id;
  std::vector<SampledToken> tokens;           // new tokens (at most one per step)
  std::vector<std::vector<SampledToken>> top;  // per new token: top_logprobs alternatives
  bool finished = false;
  FinishReason reason = FinishReason::kNone;
  int64_t prompt_tokens = 0, output_tokens = 0, cached_tokens = 0;
};

struct EngineStats {
  int64_t running = 0, waiting = 0, peak_running = 0;
  double kv_usage = 0;  // fraction of blocks in use
  int64_t preemptions = 0, prefix_queries = 0, prefix_hits = 0;
  int64_t steps = 0, prompt_tokens = 0, generation_tokens = 0;
};

// The engine as a step machine (single-threaded: one caller at a time).
class EngineCore {
 public:
  virtual ~EngineCore() = default;
  // Throws yz::Error (nothing queued) for a bad request: id in use, empty or too long prompt,
  // max_tokens < 1.
  virtual void add_request(const std::string& id, std::vector<int32_t> prompt,
                           const GenerationParams& params) = 0;
  // Ends a request now and frees its blocks (abort: client gone; stop: a stop string matched);
  // false when unknown or already finished.
  virtual bool finish(const std::string& id, FinishReason reason) = 0;
  virtual std::vector<StepOutput> step() = 0;
  virtual bool has_unfinished() const = 0;
  virtual EngineStats stats() const = 0;
};

}  // namespace yz::serve
