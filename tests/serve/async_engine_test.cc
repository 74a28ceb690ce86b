// The engine thread behind the server, on a scripted engine: outputs reach each request's
// stream complete and in order from many threads; admission refuses at once beyond
// max_num_seqs + max_waiting; an early finish frees the request before the next step; drain
// lets requests finish within the grace period and aborts the rest; refusals and engine
// failures reach the streams; the metrics count what happened.
#include <gtest/gtest.h>

#include <thread>

#include "scripted_engine.h"
#include "serve/async_engine.h"

namespace yz::serve {
namespace {

using std::chrono::milliseconds;

ServingMetrics make_metrics() { return ServingMetrics("m", 2048, {{"block_size", "16"}}); }

GenerationParams params(int64_t max_tokens) {
  GenerationParams p;
  p.max_tokens = max_tokens;
  return p;
}

// Drains a stream until its request finished; returns the tokens.
std::vector<int32_t> collect(RequestStream& s, FinishReason* reason) {
  std::vector<int32_t> tokens;
  for (;;) {
    std::vector<StepOutput> out;
    if (!s.next(&out, milliseconds(5000))) return tokens;
    if (out.empty()) return tokens;  // the engine failed the request (s.failure())
    for (const StepOutput& o : out) {
      for (const SampledToken& t : o.tokens) tokens.push_back(t.token);
      if (o.finished) {
        *reason = o.reason;
        return tokens;
      }
    }
  }
}

TEST(AsyncEngine, ManyThreadsGetTheirOwnOutputs) {
  test::ScriptedEngine engine(/*max_running=*/8);
  ServingMetrics metrics = make_metrics();
  AsyncEngine async(engine, metrics, {8, 64});
  std::vector<std::thread> clients;
  std::atomic<int> ok{0};
  for (int i = 0; i < 24; ++i)
    clients.emplace_back([&, i] {
      std::vector<int32_t> prompt = {i, i + 1, i + 2};
      auto s = async.submit("r" + std::to_string(i), prompt, params(7));
      std::string why;
      ASSERT_TRUE(s->wait_admitted(&why)) << why;
      FinishReason reason = FinishReason::kNone;
      const std::vector<int32_t> got = collect(*s, &reason);
      const std::vector<int32_t> want = {i, i + 1, i + 2, i, i + 1, i + 2, i};
      if (got == want && reason == FinishReason::kLength) ++ok;
    });
  for (std::thread& t : clients) t.join();
  EXPECT_EQ(ok.load(), 24);
  EXPECT_EQ(engine.live(), 0);
  EXPECT_EQ(async.in_flight(), 0);
  const std::string page = metrics.render(async.stats());
  EXPECT_NE(page.find("vllm:request_success_total{engine=\"0\",model_name=\"m\",finished_reason=\"length\"} 24.0"),
            std::string::npos) << page;
  EXPECT_NE(page.find("vllm:generation_tokens_total{engine=\"0\",model_name=\"m\"} 168.0"), std::string::npos);
  EXPECT_NE(page.find("vllm:prompt_tokens_total{engine=\"0\",model_name=\"m\"} 72.0"), std::string::npos);
  EXPECT_NE(page.find("vllm:time_to_first_token_seconds_count{engine=\"0\",model_name=\"m\"} 24.0"), std::string::npos);
  EXPECT_NE(page.find("vllm:inter_token_latency_seconds_count{engine=\"0\",model_name=\"m\"} 144.0"), std::string::npos);
}

TEST(AsyncEngine, QueueFullIsRefusedAtOnce) {
  test::ScriptedEngine engine(2);
  engine.set_step_delay(milliseconds(20));
  ServingMetrics metrics = make_metrics();
  AsyncEngine async(engine, metrics, {/*max_num_seqs=*/2, /*max_waiting=*/1});
  std::vector<std::shared_ptr<RequestStream>> admitted;
  for (int i = 0; i < 3; ++i) admitted.push_back(async.submit("r" + std::to_string(i), {1, 2}, params(1000)));
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_THROW(async.submit("r3", {1}, params(5)), Unavailable);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, milliseconds(5));
  EXPECT_EQ(async.in_flight(), 3);
  // A slot frees up: admitted again.
  async.finish("r0", FinishReason::kAbort);
  while (async.in_flight() > 2) std::this_thread::sleep_for(milliseconds(1));
  EXPECT_NO_THROW(async.submit("r4", {1}, params(1)));
}

TEST(AsyncEngine, EarlyFinishFreesBeforeTheNextStep) {
  test::ScriptedEngine engine(4);
  engine.set_step_delay(milliseconds(10));
  ServingMetrics metrics = make_metrics();
  AsyncEngine async(engine, metrics, {4, 4});
  auto s = async.submit("r", {1, 2, 3}, params(100000));
  ASSERT_TRUE(s->wait_admitted(nullptr));
  std::vector<StepOutput> out;
  ASSERT_TRUE(s->next(&out, milliseconds(2000)));
  const int64_t steps_before = engine.steps();
  async.finish("r", FinishReason::kAbort);
  while (engine.live() > 0) std::this_thread::sleep_for(milliseconds(1));
  // The finish is applied between steps: at most the step already running completes.
  EXPECT_LE(engine.steps() - steps_before, 1);
  EXPECT_EQ(engine.ended().at("r"), FinishReason::kAbort);
  while (async.in_flight() > 0) std::this_thread::sleep_for(milliseconds(1));
  EXPECT_NE(metrics.render(async.stats()).find("finished_reason=\"abort\"} 1.0"), std::string::npos);
}

TEST(AsyncEngine, DrainFinishesWithinGraceThenAborts) {
  test::ScriptedEngine engine(4);
  engine.set_step_delay(milliseconds(2));
  ServingMetrics metrics = make_metrics();
  {
    AsyncEngine async(engine, metrics, {4, 4});
    auto quick = async.submit("quick", {1}, params(3));
    async.drain(milliseconds(5000));  // finishes on its own well within the grace
    FinishReason reason = FinishReason::kNone;
    EXPECT_EQ(collect(*quick, &reason).size(), 3u);
    EXPECT_EQ(reason, FinishReason::kLength);
    EXPECT_THROW(async.submit("late", {1}, params(1)), Unavailable);
  }
  {
    AsyncEngine async(engine, metrics, {4, 4});
    auto endless = async.submit("endless", {1}, params(1000000));
    const auto t0 = std::chrono::steady_clock::now();
    async.drain(milliseconds(100));
    EXPECT_GE(std::chrono::steady_clock::now() - t0, milliseconds(100));
    EXPECT_LT(std::chrono::steady_clock::now() - t0, milliseconds(3000));
    FinishReason reason = FinishReason::kNone;
    EXPECT_FALSE(collect(*endless, &reason).empty());
    EXPECT_EQ(reason, FinishReason::kAbort);
    EXPECT_EQ(engine.live(), 0);
  }
}

TEST(AsyncEngine, RefusalsAndEngineFailuresReachTheStreams) {
  test::ScriptedEngine engine(4);
  ServingMetrics metrics = make_metrics();
  AsyncEngine async(engine, metrics, {4, 4});
  auto refused = async.submit("big", std::vector<int32_t>(2000, 1), params(1));
  std::string why;
  EXPECT_FALSE(refused->wait_admitted(&why));
  EXPECT_NE(why.find("longer than the whole pool"), std::string::npos);
  EXPECT_EQ(async.in_flight(), 0);

  engine.set_step_delay(milliseconds(5));
  engine.fail_at_step(engine.steps() + 3);
  auto doomed = async.submit("doomed", {1}, params(1000));
  ASSERT_TRUE(doomed->wait_admitted(nullptr));
  FinishReason reason = FinishReason::kNone;
  collect(*doomed, &reason);
  EXPECT_NE(doomed->failure().find("scripted failure"), std::string::npos);
  EXPECT_EQ(engine.live(), 0);
  // The server keeps serving after a failed step.
  auto next = async.submit("next", {4, 5}, params(2));
  EXPECT_EQ(collect(*next, &reason), (std::vector<int32_t>{4, 5}));
}

TEST(Metrics, PrometheusText) {
  ServingMetrics m("my \"model\"\n", 100, {{"block_size", "16"}, {"num_gpu_blocks", "42"}});
  m.on_first_token(0.03, 5);
  m.on_next_token(0.02);
  m.on_iteration(6);
  m.on_finish(FinishReason::kStop, 0.4, 5, 2);
  EngineStats s;
  s.running = 3;
  s.waiting = 1;
  s.kv_usage = 0.25;
  const std::string page = m.render(s);
  const std::string l = "{engine=\"0\",model_name=\"my \\\"model\\\"\\n\"}";
  for (const std::string& line : std::vector<std::string>{
           "# TYPE vllm:num_requests_running gauge", "vllm:num_requests_running" + l + " 3.0",
        "vllm:num_requests_waiting" + l + " 1.0", "vllm:kv_cache_usage_perc" + l + " 0.25",
        "# TYPE vllm:prompt_tokens_total counter", "vllm:prompt_tokens_total" + l + " 5.0",
        "vllm:generation_tokens_total" + l + " 2.0",
        "# TYPE vllm:time_to_first_token_seconds histogram",
        // 0.03 s lands in the 0.04 bucket and every one above it, not in 0.02.
        "vllm:time_to_first_token_seconds_bucket{engine=\"0\",model_name=\"my \\\"model\\\"\\n\",le=\"0.02\"} 0.0",
        "vllm:time_to_first_token_seconds_bucket{engine=\"0\",model_name=\"my \\\"model\\\"\\n\",le=\"0.04\"} 1.0",
        "vllm:time_to_first_token_seconds_bucket{engine=\"0\",model_name=\"my \\\"model\\\"\\n\",le=\"+Inf\"} 1.0",
        "vllm:time_to_first_token_seconds_sum" + l + " 0.03",
        "vllm:inter_token_latency_seconds_count" + l + " 1.0", "vllm:e2e_request_latency_seconds_count" + l + " 1.0",
        "vllm:request_success_total{engine=\"0\",model_name=\"my \\\"model\\\"\\n\",finished_reason=\"stop\"} 1.0",
        "vllm:cache_config_info{block_size=\"16\",num_gpu_blocks=\"42\",engine=\"0\"} 1.0",
        "# TYPE process_resident_memory_bytes gauge"})
    EXPECT_NE(page.find(line + "\n"), std::string::npos) << line << "\n" << page;
  EXPECT_GT(process_resident_bytes(), 1 << 20);
}

}  // namespace
}  // namespace yz::serve
