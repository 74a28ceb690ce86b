// Prometheus metrics of the server, with vLLM V1's names, label sets and histogram buckets
// (vllm/v1/metrics/loggers.py, PrometheusStatLogger) so that dashboards and load shedders built
// for vLLM read ours unchanged: request gauges, KV-cache usage, token counters, TTFT /
// inter-token / end-to-end latency histograms and cache_config_info. Text exposition format 0.0.4.
#pragma once

#include <cstdint>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "serve/engine_api.h"

namespace yz::serve {

// A cumulative histogram (Prometheus semantics: bucket i counts observations <= bounds[i]).
class Histogram {
 public:
  explicit Histogram(std::vector<double> bounds);
  void observe(double v);
  // name_bucket{labels,le="..."} lines, name_sum, name_count.
  void render(std::string* out, const std::string& name, const std::string& labels) const;
  uint64_t count() const { return count_; }

 private:
  std::vector<double> bounds_;
  std::vector<uint64_t> counts_;  // [bounds + 1] non-cumulative, last = +Inf
  double sum_ = 0;
  uint64_t count_ = 0;
};

class ServingMetrics {
 public:
  // `cache_config`: the labels of vllm:cache_config_info (block_size, num_gpu_blocks, ...).
  ServingMetrics(std::string model_name, int64_t max_model_len,
                 std::vector<std::pair<std::string, std::string>> cache_config);

  // Called by the engine thread.
  void on_first_token(double ttft_s, int64_t prompt_tokens);
  void on_next_token(double inter_token_s);
  void on_iteration(int64_t tokens);
  void on_finish(FinishReason reason, double e2e_s, int64_t prompt_tokens, int64_t generation_tokens);

  // The /metrics page: these metrics plus the engine's gauges and cumulative counters.
  std::string render(const EngineStats& engine) const;

 private:
  const std::string labels_;  // model_name="...",engine="0"
  const std::string cache_labels_;
  mutable std::mutex mu_;
  int64_t prompt_tokens_ = 0, generation_tokens_ = 0;
  int64_t finished_stop_ = 0, finished_length_ = 0, finished_abort_ = 0;
  Histogram ttft_, itl_, e2e_, iteration_tokens_, request_prompt_tokens_, request_generation_tokens_;
};

// Resident set size of this process in bytes (0 when /proc is unavailable).
int64_t process_resident_bytes();

}  // namespace yz::serve
