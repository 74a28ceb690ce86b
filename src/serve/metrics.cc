// Prometheus metrics (see metrics.h). Bucket boundaries are vLLM's
// (vllm/v1/metrics/loggers.py); counters are exposed as NAME_total like prometheus_client does.
#include "serve/metrics.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>

namespace yz::serve {

namespace {

// Label values escape backslash, double quote and newline (exposition format 0.0.4).
std::string escape_label(const std::string& v) {
  std::string out;
  for (char c : v) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}

// Python's repr of a float as prometheus_client prints it: "0.5", "1.0", "+Inf".
std::string number(double v) {
  // The shortest form that reads back exactly (17 significant digits always do).
  char buf[64];
  for (int prec = 1; prec <= 17; ++prec) {
    std::snprintf(buf, sizeof buf, "%.*g", prec, v);
    if (std::strtod(buf, nullptr) == v) break;
  }
  std::string s = buf;
  if (s.find_first_of(".eEn") == std::string::npos) s += ".0";
  return s;
}

// vLLM's build_1_2_5_buckets(max_value): 1, 2, 5, 10, 20, 50, ... <= max_value.
std::vector<double> buckets_1_2_5(int64_t max_value) {
  std::vector<double> out;
  for (double scale = 1;; scale *= 10)
    for (double m : {1.0, 2.0, 5.0}) {
      if (m * scale > static_cast<double>(max_value)) return out;
      out.push_back(m * scale);
    }
}

void header(std::string* out, const std::string& name, const char* type, const char* help) {
  *out += "# HELP " + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
}

void sample(std::string* out, const std::string& name, const std::string& labels, double v) {
  *out += name + "{" + labels + "} " + number(v) + "\n";
}

}  // namespace

Histogram::Histogram(std::vector<double> bounds) : bounds_(std::move(bounds)), counts_(bounds_.size() + 1, 0) {}

void Histogram::observe(double v) {
  const size_t i = std::lower_bound(bounds_.begin(), bounds_.end(), v) - bounds_.begin();
  ++counts_[i];
  sum_ += v;
  ++count_;
}

void Histogram::render(std::string* out, const std::string& name, const std::string& labels) const {
  uint64_t cumulative = 0;
  for (size_t i = 0; i <= bounds_.size(); ++i) {
    cumulative += counts_[i];
    const std::string le = i < bounds_.size() ? number(bounds_[i]) : "+Inf";
    *out += name + "_bucket{" + labels + ",le=\"" + le + "\"} " + number(static_cast<double>(cumulative)) + "\n";
  }
  sample(out, name + "_count", labels, static_cast<double>(count_));
  sample(out, name + "_sum", labels, sum_);
}

ServingMetrics::ServingMetrics(std::string model_name, int64_t max_model_len,
                               std::vector<std::pair<std::string, std::string>> cache_config)
    : labels_("engine=\"0\",model_name=\"" + escape_label(model_name) + "\""),
      cache_labels_([&] {
        std::string s;
        for (const auto& [k, v] : cache_config) s += k + "=\"" + escape_label(v) + "\",";
        return s + "engine=\"0\"";
      }()),
      ttft_({0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5,
             10.0, 20.0, 40.0, 80.0, 160.0, 640.0, 2560.0}),
      itl_({0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5,
            10.0, 20.0, 40.0, 80.0}),
      e2e_({0.3, 0.5, 0.8, 1.0, 1.5, 2.0, 2.5, 5.0, 10.0, 15.0, 20.0, 30.0, 40.0, 50.0, 60.0,
            120.0, 240.0, 480.0, 960.0, 1920.0, 7680.0}),
      iteration_tokens_({1, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384}),
      request_prompt_tokens_(buckets_1_2_5(max_model_len)),
      request_generation_tokens_(buckets_1_2_5(max_model_len)) {}

void ServingMetrics::on_first_token(double ttft_s, int64_t prompt_tokens) {
  std::lock_guard<std::mutex> lock(mu_);
  ttft_.observe(ttft_s);
  prompt_tokens_ += prompt_tokens;
  ++generation_tokens_;
}

void ServingMetrics::on_next_token(double inter_token_s) {
  std::lock_guard<std::mutex> lock(mu_);
  itl_.observe(inter_token_s);
  ++generation_tokens_;
}

void ServingMetrics::on_iteration(int64_t tokens) {
  std::lock_guard<std::mutex> lock(mu_);
  iteration_tokens_.observe(static_cast<double>(tokens));
}

void ServingMetrics::on_finish(FinishReason reason, double e2e_s, int64_t prompt_tokens,
                               int64_t generation_tokens) {
  std::lock_guard<std::mutex> lock(mu_);
  e2e_.observe(e2e_s);
  request_prompt_tokens_.observe(static_cast<double>(prompt_tokens));
  request_generation_tokens_.observe(static_cast<double>(generation_tokens));
  if (reason == FinishReason::kStop) ++finished_stop_;
  if (reason == FinishReason::kLength) ++finished_length_;
  if (reason == FinishReason::kAbort) ++finished_abort_;
}

std::string ServingMetrics::render(const EngineStats& e) const {
  std::lock_guard<std::mutex> lock(mu_);
  std::string o;
  auto gauge = [&](const char* name, const char* help, double v) {
    header(&o, name, "gauge", help);
    sample(&o, name, labels_, v);
  };
  auto counter = [&](const std::string& name, const char* help, double v) {
    header(&o, name + "_total", "counter", help);
    sample(&o, name + "_total", labels_, v);
  };
  auto histogram = [&](const char* name, const char* help, const Histogram& h) {
    header(&o, name, "histogram", help);
    h.render(&o, name, labels_);
  };
  gauge("vllm:num_requests_running", "Number of requests in model execution batches.",
        static_cast<double>(e.running));
  gauge("vllm:num_requests_waiting", "Number of requests waiting to be processed.",
        static_cast<double>(e.waiting));
  gauge("vllm:kv_cache_usage_perc", "KV-cache usage. 1 means 100 percent usage.", e.kv_usage);
  counter("vllm:prefix_cache_queries", "Prefix cache queries, in terms of number of queried tokens.",
          static_cast<double>(e.prefix_queries));
  counter("vllm:prefix_cache_hits", "Prefix cache hits, in terms of number of cached tokens.",
          static_cast<double>(e.prefix_hits));
  counter("vllm:num_preemptions", "Cumulative number of preemption from the engine.",
          static_cast<double>(e.preemptions));
  counter("vllm:prompt_tokens", "Number of prefill tokens processed.", static_cast<double>(prompt_tokens_));
  counter("vllm:generation_tokens", "Number of generation tokens processed.",
          static_cast<double>(generation_tokens_));
  header(&o, "vllm:request_success_total", "counter", "Count of successfully processed requests.");
  for (const auto& [reason, n] : {std::pair<const char*, int64_t>{"stop", finished_stop_},
                                  {"length", finished_length_}, {"abort", finished_abort_}})
    sample(&o, "vllm:request_success_total", labels_ + ",finished_reason=\"" + reason + "\"",
           static_cast<double>(n));
  histogram("vllm:time_to_first_token_seconds", "Histogram of time to first token in seconds.", ttft_);
  histogram("vllm:inter_token_latency_seconds", "Histogram of inter-token latency in seconds.", itl_);
  histogram("vllm:e2e_request_latency_seconds", "Histogram of e2e request latency in seconds.", e2e_);
  histogram("vllm:iteration_tokens_total", "Histogram of number of tokens per engine_step.", iteration_tokens_);
  histogram("vllm:request_prompt_tokens", "Number of prefill tokens processed.", request_prompt_tokens_);
  histogram("vllm:request_generation_tokens", "Number of generation tokens processed.",
            request_generation_tokens_);
  header(&o, "vllm:cache_config_info", "gauge", "Information of the LLMEngine CacheConfig");
  sample(&o, "vllm:cache_config_info", cache_labels_, 1.0);
  header(&o, "process_resident_memory_bytes", "gauge", "Resident memory size in bytes.");
  o += "process_resident_memory_bytes " + number(static_cast<double>(process_resident_bytes())) + "\n";
  return o;
}

int64_t process_resident_bytes() {
  std::ifstream f("/proc/self/statm");
  int64_t size = 0, resident = 0;
  if (!(f >> size >> resident)) return 0;
  return resident * static_cast<int64_t>(sysconf(_SC_PAGESIZE));
}

}  // namespace yz::serve
