// Table-driven scheduler and block-pool tests in the style of TensorRT-LLM's and mlc-llm's
// scheduler tests: given a configuration and requests, the batch of every step is spelled out
// ("A:16 B:1" = request A computes 16 tokens, B one) together with preemptions and finishes.
// The "model" samples token 100 + step for every request, so outputs are predictable.
#include <gtest/gtest.h>

#include <map>
#include <sstream>

#include "serve/scheduler.h"
#include "util/error.h"

namespace yz::serve {
namespace {

struct Arrival {
  int64_t step;  // added before this step's schedule()
  std::string id;
  std::vector<int32_t> prompt;
  int64_t max_tokens;
  std::vector<int32_t> stop_ids = {};
};

std::vector<int32_t> iota_tokens(int64_t n, int32_t first = 1) {
  std::vector<int32_t> v(n);
  for (int64_t i = 0; i < n; ++i) v[i] = first + static_cast<int32_t>(i);
  return v;
}

// Runs the scheduler for `steps` steps and returns one line per step:
// "A:16 B:1 | preempt C | done A(length)".
std::vector<std::string> run(const SchedulerConfig& config, const std::vector<Arrival>& arrivals,
                             int64_t steps, Scheduler** keep = nullptr) {
  static std::unique_ptr<Scheduler> holder;
  holder = std::make_unique<Scheduler>(config);
  Scheduler& s = *holder;
  if (keep) *keep = &s;
  std::vector<std::string> lines;
  for (int64_t step = 0; step < steps; ++step) {
    for (const Arrival& a : arrivals)
      if (a.step == step) {
        Request r;
        r.id = a.id;
        r.prompt = a.prompt;
        r.max_tokens = a.max_tokens;
        r.stop_ids = a.stop_ids;
        s.add(r);
      }
    SchedulerOutput out = s.schedule();
    std::ostringstream line;
    for (size_t i = 0; i < out.scheduled.size(); ++i)
      line << (i ? " " : "") << out.scheduled[i].request->id << ":" << out.scheduled[i].num_tokens;
    for (const std::string& p : out.preempted) line << " | preempt " << p;
    std::vector<int32_t> sampled;
    for (const ScheduledRequest& r : out.scheduled)
      if (r.samples) sampled.push_back(static_cast<int32_t>(100 + step));
    for (const FinishedRequest& f : s.update(out, sampled))
      line << " | done " << f.id << "(" << finish_reason_name(f.reason) << ")";
    lines.push_back(line.str());
  }
  return lines;
}

SchedulerConfig config(int64_t blocks, int64_t block_size, int64_t budget, int64_t max_seqs = 8) {
  SchedulerConfig c;
  c.num_blocks = blocks;
  c.block_size = block_size;
  c.max_num_batched_tokens = budget;
  c.max_num_seqs = max_seqs;
  c.max_model_len = 64;
  return c;
}

TEST(Scheduler, PrefillThenDecodeToMaxTokens) {
  auto lines = run(config(16, 4, 32), {{0, "A", iota_tokens(6), 3}}, 4);
  EXPECT_EQ(lines, (std::vector<std::string>{"A:6", "A:1", "A:1 | done A(length)", ""}));
}

TEST(Scheduler, ChunkedPrefillUnderTokenBudget) {
  // Budget 8: A's 20-token prompt takes three steps; B waits for budget, then shares steps.
  auto lines = run(config(32, 4, 8), {{0, "A", iota_tokens(20), 2}, {0, "B", iota_tokens(5, 50), 2}}, 6);
  EXPECT_EQ(lines, (std::vector<std::string>{
                       "A:8", "A:8",
                       "A:4 B:4",  // A's last chunk samples; B starts with the leftover budget
                       "A:1 B:1 | done A(length)",  // B's last prompt token samples
                       "B:1 | done B(length)", ""}));
}

TEST(Scheduler, MaxNumSeqsLimitsAdmission) {
  auto lines = run(config(32, 4, 64, /*max_seqs=*/2),
                   {{0, "A", iota_tokens(3), 2}, {0, "B", iota_tokens(3), 2}, {0, "C", iota_tokens(3), 1}},
                   4);
  EXPECT_EQ(lines, (std::vector<std::string>{"A:3 B:3", "A:1 B:1 | done A(length) | done B(length)",
                                             "C:3 | done C(length)", ""}));
}

TEST(Scheduler, StopTokenEndsRequest) {
  // The fake model samples 100 + step: step 2 samples 102, a stop id.
  auto lines = run(config(16, 4, 32), {{0, "A", iota_tokens(4), 10, {102}}}, 4);
  EXPECT_EQ(lines, (std::vector<std::string>{"A:4", "A:1", "A:1 | done A(stop)", ""}));
}

TEST(Scheduler, PreemptsLatestArrivalByRecomputeAndResumes) {
  // 4 blocks of 2 tokens, no prefix caching. A and B take 2 blocks each for their 3-token
  // prompts and decode one token into them; A's 5th token needs a third block, the pool is
  // exhausted and B (the latest arrival) is preempted. After A finishes, B is recomputed:
  // prompt plus its output so far.
  SchedulerConfig c = config(4, 2, 32);
  c.enable_prefix_caching = false;
  Scheduler* s = nullptr;
  auto lines = run(c, {{0, "A", iota_tokens(3), 4}, {0, "B", iota_tokens(3, 50), 4}}, 9, &s);
  EXPECT_EQ(lines[0], "A:3 B:3");
  EXPECT_EQ(lines[1], "A:1 B:1");
  EXPECT_EQ(lines[2], "A:1 | preempt B");
  EXPECT_EQ(lines[3], "A:1 | done A(length)");  // one block free: too few for B's 5 tokens
  EXPECT_EQ(lines[4], "B:5");  // recompute: 3 prompt + 2 generated tokens
  EXPECT_EQ(lines[5], "B:1 | done B(length)");
  EXPECT_EQ(s->num_preemptions(), 1);
  const Request* b = s->find("B");
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(b->output, (std::vector<int32_t>{100, 101, 104, 105}));
  EXPECT_EQ(s->kv().pool().num_free_blocks(), 4);
}

TEST(Scheduler, PrefixCachingComputesOnlyTheSuffix) {
  // Block size 4: B shares A's first 8 tokens (two full blocks), so B computes 3 tokens. A
  // prompt entirely in the cache still recomputes its last token for the logits.
  std::vector<int32_t> shared = iota_tokens(8);
  std::vector<int32_t> b = shared;
  b.insert(b.end(), {90, 91, 92});
  Scheduler* s = nullptr;
  auto lines = run(config(16, 4, 64),
                   {{0, "A", iota_tokens(10), 1}, {1, "B", b, 1}, {2, "C", shared, 1}}, 3, &s);
  EXPECT_EQ(lines[0], "A:10 | done A(length)");
  EXPECT_EQ(lines[1], "B:3 | done B(length)");
  EXPECT_EQ(lines[2], "C:4 | done C(length)");  // 8 tokens, 1 block reused: last one recomputed
  EXPECT_EQ(s->prefix_cache_queries(), 10 + 11 + 8);
  EXPECT_EQ(s->prefix_cache_hits(), 0 + 8 + 4);
}

TEST(Scheduler, AbortFreesBlocksAtOnce) {
  Scheduler s(config(8, 4, 64));
  Request r;
  r.id = "A";
  r.prompt = iota_tokens(9);
  r.max_tokens = 5;
  s.add(r);
  SchedulerOutput out = s.schedule();
  ASSERT_EQ(out.scheduled.size(), 1u);
  EXPECT_EQ(s.kv().pool().num_free_blocks(), 8 - 3);
  EXPECT_TRUE(s.finish("A", FinishReason::kAbort));
  EXPECT_EQ(s.kv().pool().num_free_blocks(), 8);
  EXPECT_FALSE(s.has_unfinished());
  // The step that was in flight completes: its token is dropped, nothing is freed twice.
  EXPECT_TRUE(s.update(out, {7}).empty());
  EXPECT_TRUE(s.find("A")->output.empty());
  EXPECT_FALSE(s.finish("A", FinishReason::kAbort));
}

TEST(Scheduler, RejectsBadRequests) {
  Scheduler s(config(8, 4, 64));
  Request r;
  r.id = "A";
  r.max_tokens = 1;
  EXPECT_THROW(s.add(r), yz::Error);  // empty prompt
  r.prompt = iota_tokens(64);
  EXPECT_THROW(s.add(r), yz::Error);  // no room within max_model_len 64
  r.prompt = iota_tokens(4);
  s.add(r);
  EXPECT_THROW(s.add(r), yz::Error);  // id in use
}

TEST(BlockPool, LruEvictionKeepsPrefixLongest) {
  BlockPool pool(4, true);
  auto a = *pool.allocate(3);
  for (int i = 0; i < 3; ++i) {
    BlockKey k;
    k.hash = 10 + i;
    k.tokens = {i};
    pool.cache(a[i], k);
  }
  pool.free({a[2], a[1], a[0]});  // tail first, as KvCacheManager::free does
  EXPECT_EQ(pool.num_free_blocks(), 4);
  // The never-used block goes first, then the request's tail, the first block last.
  auto b = *pool.allocate(2);
  EXPECT_EQ(b[0], 3);
  EXPECT_EQ(b[1], a[2]);
  BlockKey k0;
  k0.hash = 10;
  k0.tokens = {0};
  EXPECT_EQ(pool.lookup(k0), a[0]);
  BlockKey k2;
  k2.hash = 12;
  k2.tokens = {2};
  EXPECT_EQ(pool.lookup(k2), -1);  // evicted
  EXPECT_FALSE(pool.allocate(3).has_value());
  EXPECT_EQ(pool.num_free_blocks(), 2);
}

TEST(BlockPool, HashCollisionNeverSharesRows) {
  BlockPool pool(4, true);
  auto a = *pool.allocate(1);
  BlockKey k;
  k.hash = 42;
  k.tokens = {1, 2};
  pool.cache(a[0], k);
  BlockKey other = k;
  other.tokens = {1, 3};  // same hash, other content
  EXPECT_EQ(pool.lookup(other), -1);
  EXPECT_EQ(pool.lookup(k), a[0]);
}

}  // namespace
}  // namespace yz::serve
