// `youzhi bench serve`: vLLM's online serving benchmark (vllm/benchmarks/serve.py) as an
// ordinary HTTP + SSE client of any OpenAI-compatible server. Requests arrive as a Poisson
// process (burstiness 1) or with gamma-distributed gaps, optionally capped at a number of
// concurrent requests; each streams /v1/completions (or /v1/chat/completions) with usage in
// the last chunk. Reported like vLLM: completed / failed, request, output and total token
// throughput, goodput under TTFT / TPOT / E2EL SLOs, and mean / median / std / percentiles of
// TTFT, TPOT (excluding the first token), ITL and E2EL, plus peak output tokens/s and peak
// concurrent requests. The metric arithmetic is separate and pure (tested against hand
// computations and numpy's percentile rule).
#pragma once

#include <cstdint>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace yz::serve {

struct BenchServeConfig {
  std::string base_url;                    // http://host:port[/prefix]
  std::string endpoint = "/v1/completions";  // or /v1/chat/completions
  std::string model;                       // empty: the first of GET /v1/models
  std::string api_key;                     // sent as a bearer token when set
  std::string dataset = "random";          // "random" or a .jsonl file
  std::string tokenizer;                   // tokenizer.json or model dir (random: required unless
                                           // the server's model root is a local directory)
  int64_t input_len = 1024, output_len = 128, num_prompts = 1000;
  double request_rate = std::numeric_limits<double>::infinity();
  double burstiness = 1.0;
  int64_t max_concurrency = 0;             // 0: unlimited
  bool ignore_eos = false;
  double temperature = 0;                  // greedy unless asked, as vllm bench serve
  uint64_t seed = 0;
  std::vector<double> percentiles = {99};
  std::vector<std::string> percentile_metrics = {"ttft", "tpot", "itl", "e2el"};
  std::map<std::string, double> goodput;   // SLOs in ms: "ttft", "tpot", "e2el"
  bool verbose = true;                     // the preamble lines and a progress bar (stderr)
};

// One request to send: a prompt as text or token ids, the output length asked for.
struct SampleRequest {
  std::string prompt;
  std::vector<int32_t> prompt_ids;  // non-empty: sent as token ids (exact length)
  nlohmann::json messages;          // chat datasets: the conversation as given
  int64_t prompt_len = 0;           // 0: unknown until the server reports usage
  int64_t output_len = 0;
};

// What the client saw of one request (vLLM's RequestFuncOutput; times in seconds).
struct RequestOutput {
  bool success = false;
  std::string error;
  double start_time = 0, ttft = 0, latency = 0;
  std::vector<double> itl;
  int64_t prompt_len = 0, output_tokens = 0;
  std::string generated_text;
};

// Cumulative send times of `n` requests (vLLM's get_request): 0 for rate inf; otherwise gamma
// gaps (shape burstiness, scale 1/(rate*burstiness); exponential for burstiness 1) rescaled so
// that the last one falls at n / rate.
std::vector<double> arrival_times(int64_t n, double rate, double burstiness, uint64_t seed);

// numpy.percentile's default (linear interpolation between closest ranks); 0 for no values.
double percentile(std::vector<double> values, double p);

// vLLM's calculate_metrics + the result dict of benchmark(): throughput, goodput and the
// statistics of the selected metrics (keys mean_ttft_ms, median_ttft_ms, std_ttft_ms,
// p99_ttft_ms, ...).
nlohmann::ordered_json bench_metrics(const std::vector<RequestOutput>& outputs, double duration_s,
                                     const BenchServeConfig& config);

// The "Serving Benchmark Result" block vLLM prints, from bench_metrics' result.
std::string format_bench_result(const nlohmann::ordered_json& result, const BenchServeConfig& config);

// Runs the benchmark; returns bench_metrics' result plus the configuration.
nlohmann::ordered_json run_bench_serve(const BenchServeConfig& config);

}  // namespace yz::serve
