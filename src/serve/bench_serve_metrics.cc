// The arithmetic of `bench serve` (see bench_serve.h), line for line vLLM's get_request,
// calculate_metrics and the printing in benchmark() (vllm/benchmarks/serve.py).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <random>

#include "serve/bench_serve.h"

namespace yz::serve {

namespace {

double mean(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += x;
  return v.empty() ? 0 : s / static_cast<double>(v.size());
}

// numpy.std (population, ddof = 0).
double stddev(const std::vector<double>& v) {
  if (v.empty()) return 0;
  const double m = mean(v);
  double s = 0;
  for (double x : v) s += (x - m) * (x - m);
  return std::sqrt(s / static_cast<double>(v.size()));
}

// "99" for 99.0, "99.9" for 99.9: the key vLLM writes (p{p_word}_{metric}_ms).
std::string percentile_word(double p) {
  char buf[32];
  if (p == std::floor(p))
    std::snprintf(buf, sizeof buf, "%d", static_cast<int>(p));
  else
    std::snprintf(buf, sizeof buf, "%g", p);
  return buf;
}

std::string line(const std::string& label, const std::string& value) {
  char buf[256];
  std::snprintf(buf, sizeof buf, "%-40s %-10s\n", label.c_str(), value.c_str());
  return buf;
}

std::string fixed2(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.2f", v);
  return buf;
}

// "{s:{c}^{n}}".format(s=title, n=50, c=fill): the title centred in 50 characters.
std::string banner(const std::string& title, char fill) {
  const size_t n = 50, len = title.size();
  if (len >= n) return title + "\n";
  const size_t left = (n - len) / 2;
  return std::string(left, fill) + title + std::string(n - len - left, fill) + "\n";
}

const std::vector<std::pair<std::string, std::pair<std::string, std::string>>>& metric_names() {
  static const std::vector<std::pair<std::string, std::pair<std::string, std::string>>> names = {
      {"ttft", {"TTFT", "Time to First Token"}},
      {"tpot", {"TPOT", "Time per Output Token (excl. 1st token)"}},
      {"itl", {"ITL", "Inter-token Latency"}},
      {"e2el", {"E2EL", "End-to-end Latency"}}};
  return names;
}

}  // namespace

std::vector<double> arrival_times(int64_t n, double rate, double burstiness, uint64_t seed) {
  std::vector<double> t(static_cast<size_t>(std::max<int64_t>(n, 0)), 0.0);
  if (n <= 0 || std::isinf(rate)) return t;
  std::mt19937_64 rng(seed);
  std::gamma_distribution<double> gap(burstiness, 1.0 / (rate * burstiness));
  double sum = 0;
  for (double& x : t) {
    sum += std::isinf(burstiness) ? 1.0 / rate : gap(rng);
    x = sum;
  }
  // vLLM rescales so that the n requests span exactly n / rate seconds.
  if (sum > 0)
    for (double& x : t) x *= (static_cast<double>(n) / rate) / sum;
  return t;
}

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const double rank = p / 100.0 * static_cast<double>(v.size() - 1);
  const size_t lo = static_cast<size_t>(std::floor(rank));
  const size_t hi = std::min(lo + 1, v.size() - 1);
  return v[lo] + (v[hi] - v[lo]) * (rank - static_cast<double>(lo));
}

nlohmann::ordered_json bench_metrics(const std::vector<RequestOutput>& outputs, double duration,
                                     const BenchServeConfig& config) {
  int64_t completed = 0, failed = 0, good = 0, total_input = 0, total_output = 0;
  std::vector<double> ttfts, tpots, all_tpots, itls, e2els;
  for (const RequestOutput& o : outputs) {
    if (!o.success) {
      ++failed;
      continue;
    }
    ++completed;
    total_input += o.prompt_len;
    total_output += o.output_tokens;
    double tpot = 0;  // output_len <= 1: tpot counts as 0 for goodput
    if (o.output_tokens > 1) {
      tpot = (o.latency - o.ttft) / static_cast<double>(o.output_tokens - 1);
      tpots.push_back(tpot);
    }
    all_tpots.push_back(tpot);
    itls.insert(itls.end(), o.itl.begin(), o.itl.end());
    ttfts.push_back(o.ttft);
    e2els.push_back(o.latency);
  }
  if (!config.goodput.empty())
    for (size_t i = 0; i < ttfts.size(); ++i) {
      bool ok = true;
      for (const auto& [name, slo_ms] : config.goodput) {
        const double v = name == "ttft" ? ttfts[i] : name == "tpot" ? all_tpots[i] : e2els[i];
        ok = ok && slo_ms / 1000.0 >= v;
      }
      good += ok;
    }

  // Peak output tokens per second (one-second buckets of token arrival times) and peak
  // concurrent requests (sweep over [start, end) intervals, departures first on ties).
  double peak_tokens = 0;
  int64_t peak_concurrency = 0;
  if (completed > 0) {
    double t0 = std::numeric_limits<double>::infinity(), t1 = 0;
    for (const RequestOutput& o : outputs)
      if (o.success) {
        t0 = std::min(t0, o.start_time);
        t1 = std::max(t1, o.start_time + o.latency);
      }
    std::vector<double> per_second(static_cast<size_t>(std::ceil(t1 - t0)) + 1, 0.0);
    std::vector<std::pair<double, int>> events;
    for (const RequestOutput& o : outputs) {
      if (!o.success) continue;
      double t = o.start_time + o.ttft;
      std::vector<double> times = {t};
      for (double gap : o.itl) times.push_back(t += gap);
      for (double x : times) {
        const int64_t b = static_cast<int64_t>(x - t0);
        if (b >= 0 && b < static_cast<int64_t>(per_second.size())) per_second[b] += 1;
      }
      events.push_back({o.start_time, 1});
      events.push_back({o.start_time + o.latency, -1});
    }
    std::sort(events.begin(), events.end());
    int64_t current = 0;
    for (const auto& e : events) peak_concurrency = std::max(peak_concurrency, current += e.second);
    peak_tokens = *std::max_element(per_second.begin(), per_second.end());
  }

  nlohmann::ordered_json r;
  r["duration"] = duration;
  r["completed"] = completed;
  r["failed"] = failed;
  r["total_input_tokens"] = total_input;
  r["total_output_tokens"] = total_output;
  r["request_throughput"] = static_cast<double>(completed) / duration;
  r["request_goodput"] = config.goodput.empty() ? nlohmann::ordered_json() : nlohmann::ordered_json(good / duration);
  r["output_throughput"] = static_cast<double>(total_output) / duration;
  r["total_token_throughput"] = static_cast<double>(total_input + total_output) / duration;
  r["max_output_tokens_per_s"] = peak_tokens;
  r["max_concurrent_requests"] = peak_concurrency;
  const std::map<std::string, const std::vector<double>*> values = {
      {"ttft", &ttfts}, {"tpot", &tpots}, {"itl", &itls}, {"e2el", &e2els}};
  for (const auto& [name, label] : metric_names()) {
    if (std::find(config.percentile_metrics.begin(), config.percentile_metrics.end(), name) ==
        config.percentile_metrics.end())
      continue;
    const std::vector<double>& v = *values.at(name);
    r["mean_" + name + "_ms"] = mean(v) * 1000;
    r["median_" + name + "_ms"] = percentile(v, 50) * 1000;
    r["std_" + name + "_ms"] = stddev(v) * 1000;
    for (double p : config.percentiles) r["p" + percentile_word(p) + "_" + name + "_ms"] = percentile(v, p) * 1000;
  }
  std::vector<std::string> errors;
  for (const RequestOutput& o : outputs)
    if (!o.success && errors.size() < 10) errors.push_back(o.error);
  r["errors"] = errors;
  return r;
}

std::string format_bench_result(const nlohmann::ordered_json& r, const BenchServeConfig& c) {
  std::string s;
  const auto& errors = r["errors"];
  if (!errors.empty()) {
    s += "Failed requests during benchmark run detected (capping to 10):\n";
    for (size_t i = 0; i < errors.size(); ++i)
      s += "Error " + std::to_string(i) + ": " + errors[i].get<std::string>() + "\n";
  }
  s += banner(" Serving Benchmark Result ", '=');
  s += line("Successful requests:", std::to_string(r["completed"].get<int64_t>()));
  s += line("Failed requests:", std::to_string(r["failed"].get<int64_t>()));
  if (c.max_concurrency > 0) s += line("Maximum request concurrency:", std::to_string(c.max_concurrency));
  if (!std::isinf(c.request_rate)) s += line("Request rate configured (RPS):", fixed2(c.request_rate));
  s += line("Benchmark duration (s):", fixed2(r["duration"]));
  s += line("Total input tokens:", std::to_string(r["total_input_tokens"].get<int64_t>()));
  s += line("Total generated tokens:", std::to_string(r["total_output_tokens"].get<int64_t>()));
  s += line("Request throughput (req/s):", fixed2(r["request_throughput"]));
  if (!r["request_goodput"].is_null()) s += line("Request goodput (req/s):", fixed2(r["request_goodput"]));
  s += line("Output token throughput (tok/s):", fixed2(r["output_throughput"]));
  s += line("Peak output token throughput (tok/s):", fixed2(r["max_output_tokens_per_s"]));
  s += line("Peak concurrent requests:", fixed2(static_cast<double>(r["max_concurrent_requests"].get<int64_t>())));
  s += line("Total token throughput (tok/s):", fixed2(r["total_token_throughput"]));
  for (const auto& [name, label] : metric_names()) {
    if (!r.contains("mean_" + name + "_ms")) continue;
    s += banner(label.second, '-');
    s += line("Mean " + label.first + " (ms):", fixed2(r["mean_" + name + "_ms"]));
    s += line("Median " + label.first + " (ms):", fixed2(r["median_" + name + "_ms"]));
    for (double p : c.percentiles) {
      const std::string w = percentile_word(p);
      s += line("P" + w + " " + label.first + " (ms):", fixed2(r["p" + w + "_" + name + "_ms"]));
    }
  }
  s += std::string(50, '=') + "\n";
  return s;
}

}  // namespace yz::serve
