// The serving engine: requests in, tokens out, one scheduler step at a time (continuous
// batching over the paged KV cache). Single-threaded by design: the HTTP server owns one engine
// on one thread and talks to it through queues. Offline users call step() until idle.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "model/sampling.h"
#include "serve/model_runner.h"
#include "serve/scheduler.h"

namespace yz::serve {

struct EngineConfig {
  RunnerConfig runner;
  bool enable_prefix_caching = true;
  bool enable_chunked_prefill = true;
  int64_t long_prefill_token_threshold = 0;
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

class Engine {
 public:
  explicit Engine(const EngineConfig& config);

  const ModelConfig& model_config() const { return runner_.model_config(); }
  const KvPoolReport& pool() const { return runner_.pool(); }
  const EngineConfig& config() const { return config_; }
  // vLLM's startup lines: "GPU KV cache size: N tokens" and "Maximum concurrency for L tokens
  // per request: X.XXx" (CPU pools say "CPU").
  std::string startup_report() const;

  // Throws yz::Error (nothing queued) for a bad request: id in use, empty or too long prompt,
  // max_tokens < 1.
  void add_request(const std::string& id, std::vector<int32_t> prompt, const GenerationParams& params);
  // Ends a request now and frees its blocks (abort: client gone; stop: a stop string matched);
  // false when unknown or already finished.
  bool finish(const std::string& id, FinishReason reason);
  bool abort(const std::string& id) { return finish(id, FinishReason::kAbort); }
  std::vector<StepOutput> step();
  bool has_unfinished() const { return scheduler_.has_unfinished(); }
  EngineStats stats() const;

 private:
  struct State {
    Sampler sampler;
    GenerationParams params;
  };
  EngineConfig config_;
  ModelRunner runner_;
  Scheduler scheduler_;
  std::unordered_map<std::string, std::unique_ptr<State>> states_;
  EngineStats stats_;
};

// Offline generation: submits every prompt at once and steps until all finish. Returns the
// generated ids per prompt (in order). `on_step` (optional) sees the engine after each step.
std::vector<std::vector<int32_t>> generate_all(Engine& engine, const std::vector<std::vector<int32_t>>& prompts,
                                              const GenerationParams& params,
                                              const std::function<void(const Engine&)>& on_step = nullptr);

}  // namespace yz::serve
