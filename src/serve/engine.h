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
#include "serve/engine_api.h"
#include "serve/model_runner.h"
#include "serve/scheduler.h"

namespace yz::serve {

struct EngineConfig {
  RunnerConfig runner;
  bool enable_prefix_caching = true;
  bool enable_chunked_prefill = true;
  int64_t long_prefill_token_threshold = 0;
};

class Engine final : public EngineCore {
 public:
  explicit Engine(const EngineConfig& config);

  const ModelConfig& model_config() const { return runner_.model_config(); }
  const KvPoolReport& pool() const { return runner_.pool(); }
  const EngineConfig& config() const { return config_; }
  // vLLM's startup lines: "GPU KV cache size: N tokens" and "Maximum concurrency for L tokens
  // per request: X.XXx" (CPU pools say "CPU").
  std::string startup_report() const;

  // EngineCore (see engine_api.h).
  void add_request(const std::string& id, std::vector<int32_t> prompt,
                   const GenerationParams& params) override;
  bool finish(const std::string& id, FinishReason reason) override;
  bool abort(const std::string& id) { return finish(id, FinishReason::kAbort); }
  std::vector<StepOutput> step() override;
  bool has_unfinished() const override { return scheduler_.has_unfinished(); }
  EngineStats stats() const override;

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
