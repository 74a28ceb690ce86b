// `bench serve` arithmetic against hand-computed values (vLLM's definitions: TPOT excludes the
// first token, goodput under SLOs, peak tokens/s in one-second buckets, peak concurrency over
// half-open intervals; numpy's percentile and population std), arrival schedules (Poisson and
// gamma gaps: mean, spread, total span), vLLM's printed block, and the SSE parser on a stream
// cut at every byte.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "serve/bench_serve.h"
#include "serve/sse.h"

namespace yz::serve {
namespace {

TEST(BenchServe, PercentileIsNumpys) {
  std::vector<double> v = {7, 1, 10, 4, 2, 9, 3, 8, 6, 5};
  EXPECT_DOUBLE_EQ(percentile(v, 50), 5.5);
  EXPECT_NEAR(percentile(v, 99), 9.91, 1e-12);
  EXPECT_NEAR(percentile(v, 90), 9.1, 1e-12);
  EXPECT_DOUBLE_EQ(percentile(v, 0), 1);
  EXPECT_DOUBLE_EQ(percentile(v, 100), 10);
  EXPECT_DOUBLE_EQ(percentile({3.5}, 99), 3.5);
  EXPECT_DOUBLE_EQ(percentile({}, 99), 0);  // vLLM: np.percentile(values or 0, p)
}

std::vector<RequestOutput> two_requests_and_a_failure() {
  RequestOutput a, b, failed;
  a.success = true;
  a.start_time = 0;
  a.ttft = 0.25;
  a.itl = {0.25, 0.25, 0.25, 0.25};  // tokens at 0.25, 0.5, 0.75, 1.0, 1.25
  a.latency = 1.25;
  a.output_tokens = 5;
  a.prompt_len = 5;
  b.success = true;
  b.start_time = 0.5;
  b.ttft = 0.5;
  b.itl = {0.5};  // tokens at 1.0, 1.5
  b.latency = 1.0;
  b.output_tokens = 2;
  b.prompt_len = 7;
  failed.error = "HTTP 503: busy";
  return {a, b, failed};
}

TEST(BenchServe, MetricsMatchHandComputation) {
  BenchServeConfig c;
  c.goodput = {{"ttft", 400}, {"tpot", 300}};
  c.percentiles = {50, 99};
  const auto r = bench_metrics(two_requests_and_a_failure(), 2.0, c);
  EXPECT_EQ(r["completed"], 2);
  EXPECT_EQ(r["failed"], 1);
  EXPECT_EQ(r["total_input_tokens"], 12);
  EXPECT_EQ(r["total_output_tokens"], 7);
  EXPECT_DOUBLE_EQ(r["request_throughput"].get<double>(), 1.0);
  EXPECT_DOUBLE_EQ(r["request_goodput"].get<double>(), 0.5);  // only the first meets TTFT <= 400 ms
  EXPECT_DOUBLE_EQ(r["output_throughput"].get<double>(), 3.5);
  EXPECT_DOUBLE_EQ(r["total_token_throughput"].get<double>(), 9.5);
  EXPECT_DOUBLE_EQ(r["max_output_tokens_per_s"].get<double>(), 4);  // second [1, 2): 1.0, 1.25, 1.0, 1.5
  EXPECT_EQ(r["max_concurrent_requests"], 2);
  EXPECT_DOUBLE_EQ(r["mean_ttft_ms"].get<double>(), 375);
  EXPECT_DOUBLE_EQ(r["median_ttft_ms"].get<double>(), 375);
  EXPECT_DOUBLE_EQ(r["std_ttft_ms"].get<double>(), 125);
  EXPECT_NEAR(r["p99_ttft_ms"].get<double>(), 497.5, 1e-9);
  EXPECT_DOUBLE_EQ(r["mean_tpot_ms"].get<double>(), 375);  // (1.25-0.25)/4 and (1.0-0.5)/1
  EXPECT_DOUBLE_EQ(r["mean_itl_ms"].get<double>(), 300);
  EXPECT_DOUBLE_EQ(r["median_itl_ms"].get<double>(), 250);
  EXPECT_DOUBLE_EQ(r["mean_e2el_ms"].get<double>(), 1125);
  EXPECT_DOUBLE_EQ(r["p50_e2el_ms"].get<double>(), 1125);
  EXPECT_EQ(r["errors"], nlohmann::ordered_json::array({"HTTP 503: busy"}));
  c.goodput.clear();
  EXPECT_TRUE(bench_metrics(two_requests_and_a_failure(), 2.0, c)["request_goodput"].is_null());
  // A single-token output counts TPOT 0 for goodput and is left out of the TPOT statistics.
  RequestOutput one;
  one.success = true;
  one.ttft = one.latency = 0.1;
  one.output_tokens = 1;
  c.goodput = {{"tpot", 0}};
  const auto r1 = bench_metrics({one}, 1.0, c);
  EXPECT_DOUBLE_EQ(r1["request_goodput"].get<double>(), 1.0);
  EXPECT_DOUBLE_EQ(r1["mean_tpot_ms"].get<double>(), 0);
}

TEST(BenchServe, PrintsVllmsBlock) {
  BenchServeConfig c;
  c.max_concurrency = 8;
  c.request_rate = 4;
  c.goodput = {{"ttft", 400}};
  const std::string s = format_bench_result(bench_metrics(two_requests_and_a_failure(), 2.0, c), c);
  for (const char* line : {
           "Error 0: HTTP 503: busy\n",
           "============ Serving Benchmark Result ============\n",
           "Successful requests:                     2         \n",
           "Failed requests:                         1         \n",
           "Maximum request concurrency:             8         \n",
           "Request rate configured (RPS):           4.00      \n",
           "Benchmark duration (s):                  2.00      \n",
           "Total input tokens:                      12        \n",
           "Total generated tokens:                  7         \n",
           "Request throughput (req/s):              1.00      \n",
           "Request goodput (req/s):                 0.50      \n",
           "Output token throughput (tok/s):         3.50      \n",
           "Peak output token throughput (tok/s):    4.00      \n",
           "Peak concurrent requests:                2.00      \n",
           "Total token throughput (tok/s):          9.50      \n",
           "---------------Time to First Token----------------\n",
           "Mean TTFT (ms):                          375.00    \n",
           "P99 TTFT (ms):                           497.50    \n",
           "-----Time per Output Token (excl. 1st token)------\n",
           "---------------Inter-token Latency----------------\n",
           "Median ITL (ms):                         250.00    \n",
           "----------------End-to-end Latency----------------\n",
           "==================================================\n"})
    EXPECT_NE(s.find(line), std::string::npos) << line << "\n" << s;
}

TEST(BenchServe, ArrivalTimes) {
  EXPECT_EQ(arrival_times(5, std::numeric_limits<double>::infinity(), 1, 0), std::vector<double>(5, 0.0));
  const uint64_t seed = std::random_device{}();
  for (double burstiness : {1.0, 4.0, 0.5}) {
    SCOPED_TRACE(burstiness);
    const std::vector<double> t = arrival_times(4000, 4.0, burstiness, seed);
    EXPECT_NEAR(t.back(), 1000.0, 1e-9);  // rescaled to span n / rate
    std::vector<double> gaps = {t[0]};
    for (size_t i = 1; i < t.size(); ++i) {
      ASSERT_GE(t[i], t[i - 1]);
      gaps.push_back(t[i] - t[i - 1]);
    }
    double m = 0, v = 0;
    for (double g : gaps) m += g / gaps.size();
    for (double g : gaps) v += (g - m) * (g - m) / gaps.size();
    EXPECT_NEAR(m, 0.25, 1e-9);
    // Gamma(shape b): coefficient of variation 1/sqrt(b) (1 for Poisson arrivals).
    EXPECT_NEAR(std::sqrt(v) / m, 1 / std::sqrt(burstiness), 0.08 / std::sqrt(burstiness));
  }
  const std::vector<double> even = arrival_times(4, 2.0, std::numeric_limits<double>::infinity(), 0);
  EXPECT_EQ(even, (std::vector<double>{0.5, 1.0, 1.5, 2.0}));
}

TEST(SseParser, AnySplitGivesTheSameEvents) {
  const std::string stream =
      "data: {\"a\":1}\r\n\r\n: ping\n\ndata:x\ndata: y\r\revent: foo\nid: 3\nretry: 10\n\n"
      "data: caf\xc3\xa9\n\ndata\n\ndata: [DONE]";
  const std::vector<std::string> want = {"{\"a\":1}", "x\ny", "caf\xc3\xa9", "", "[DONE]"};
  auto parse = [&](const std::vector<size_t>& cuts) {
    SseParser p;
    std::vector<std::string> got;
    size_t at = 0;
    for (size_t c : cuts) {
      for (auto& e : p.feed(stream.data() + at, c - at)) got.push_back(e);
      at = c;
    }
    for (auto& e : p.feed(stream.data() + at, stream.size() - at)) got.push_back(e);
    for (auto& e : p.finish()) got.push_back(e);
    return got;
  };
  EXPECT_EQ(parse({}), want);
  for (size_t i = 0; i <= stream.size(); ++i) ASSERT_EQ(parse({i}), want) << "cut at " << i;
  std::mt19937 rng(std::random_device{}());
  for (int trial = 0; trial < 200; ++trial) {
    std::vector<size_t> cuts;
    for (size_t i = 0; i < stream.size(); ++i)
      if (rng() % 3 == 0) cuts.push_back(i);
    ASSERT_EQ(parse(cuts), want);
  }
}

}  // namespace
}  // namespace yz::serve
