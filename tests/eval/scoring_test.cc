// The shared-prefix scorer and the batched generator against plain references (float32, CPU):
// every (context, continuation) scored alone by one full forward over lm-eval's truncated window
// (no cache, no batch) within 1e-5, the same greedy flags; generation token for token equal to
// model/generation.h's generate() per prompt. Bundled model on real task prompts, tiny MLA models
// on random ids; transformers goldens (tools/make_eval_goldens.py) within 1e-4 when present.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <nlohmann/json.hpp>

#include "eval/generate.h"
#include "eval/harness.h"
#include "eval/loglik.h"
#include "eval/metrics.h"
#include "eval/prompt.h"
#include "eval/tasks.h"
#include "model/generation.h"
#include "model/sampling.h"
#include "test_util.h"
#include "util/json_file.h"

namespace yz {
namespace {

constexpr double kTol = 1e-5;

fs::path bundled() { return test::source_dir() / "models" / "yz-qwen2-gqa-16m"; }

// lm-eval HFLM._loglikelihood_tokens at batch size 1: inp = (ctx + cont)[-(max + 1):][:-1].
ContinuationScore reference(CausalLm& lm, const std::vector<int32_t>& ctx,
                            const std::vector<int32_t>& cont, int64_t max_length) {
  std::vector<int64_t> all(ctx.begin(), ctx.end());
  all.insert(all.end(), cont.begin(), cont.end());
  const int64_t keep = std::min<int64_t>(static_cast<int64_t>(all.size()), max_length + 1);
  std::vector<int64_t> window(all.end() - keep, all.end() - 1);
  torch::NoGradGuard g;
  torch::Tensor logp =
      torch::log_softmax(lm->forward(torch::tensor(window).unsqueeze(0))[0].to(torch::kFloat), -1);
  ContinuationScore s;
  const int64_t first = static_cast<int64_t>(window.size()) - static_cast<int64_t>(cont.size());
  for (size_t t = 0; t < cont.size(); ++t) {
    torch::Tensor row = logp[first + static_cast<int64_t>(t)];
    s.logprob += row[cont[t]].item<double>();
    s.greedy = s.greedy && row.argmax().item<int64_t>() == cont[t];
  }
  s.tokens = static_cast<int64_t>(cont.size());
  return s;
}

void expect_matches_reference(CausalLm& lm, const std::vector<LoglikRequest>& reqs,
                              const LoglikOptions& o, const char* what) {
  const auto got = score_loglik(lm, reqs, o);
  for (size_t r = 0; r < reqs.size(); ++r)
    for (size_t j = 0; j < reqs[r].continuations.size(); ++j) {
      const ContinuationScore want =
          reference(lm, reqs[r].context, reqs[r].continuations[j], o.max_length);
      EXPECT_NEAR(got[r][j].logprob, want.logprob, kTol)
          << what << " request " << r << " choice " << j;
      EXPECT_EQ(got[r][j].greedy, want.greedy) << what << " request " << r << " choice " << j;
      EXPECT_EQ(got[r][j].tokens, want.tokens);
    }
}

// Requests of `task` docs [0, n) as the harness builds them.
std::vector<LoglikRequest> task_requests(const Task& task, const tok::Tokenizer& tk, int64_t n,
                                         int64_t shots) {
  std::vector<LoglikRequest> reqs;
  for (int64_t i = 0; i < n; ++i) {
    const std::string ctx = task_prompt(task, i, shots, 1234);
    LoglikRequest r;
    for (const auto& c : task.docs[i].choices) {
      auto [context, cont] = encode_pair(tk, ctx, task.target_delimiter + c, 0);
      r.context = context;
      r.continuations.push_back(cont);
    }
    reqs.push_back(std::move(r));
  }
  return reqs;
}

class Scoring : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    lm_ = new CausalLm(load_causal_lm(bundled(), {}));
    tk_ = new tok::Tokenizer(tok::Tokenizer::from_file(bundled()));
  }
  static void TearDownTestSuite() {
    delete lm_;
    delete tk_;
  }
  static CausalLm* lm_;
  static tok::Tokenizer* tk_;
  fs::path data() const { return test::shared_dir() / "data"; }
};
CausalLm* Scoring::lm_ = nullptr;
tok::Tokenizer* Scoring::tk_ = nullptr;

TEST_F(Scoring, SharedPrefixEqualsOneForwardPerChoice) {
  LoglikOptions o;
  o.batch = 2;  // several batches with padding
  o.progress = false;
  // FPB with shots: single-token labels (no second forward); NWGI: 7 multi-token labels (the
  // cached continuation batch); CFA: long contexts, one-letter choices.
  const Task fpb = load_task("fpb", data(), true);
  const auto fpb_reqs = task_requests(fpb, *tk_, 3, 1);
  expect_matches_reference(*lm_, fpb_reqs, o, "fpb");
  const Task nwgi = load_task("nwgi", data(), false);
  auto nwgi_reqs = task_requests(nwgi, *tk_, 3, 0);
  nwgi_reqs.push_back(nwgi_reqs[1]);  // equal context lengths share one continuation batch
  size_t multi = 0;
  for (const auto& c : nwgi_reqs[0].continuations) multi += c.size() > 1;
  ASSERT_GT(multi, 1u) << "test premise: NWGI labels span several tokens";
  expect_matches_reference(*lm_, nwgi_reqs, o, "nwgi");
  expect_matches_reference(*lm_, task_requests(load_task("cfa", data(), false), *tk_, 2, 0), o,
                           "cfa");
}

TEST_F(Scoring, LeftTruncationFollowsLmEvalPerChoice) {
  // A window of 40 tokens: NWGI prompts (~60 tokens) lose context, by a different amount for
  // labels of different lengths, so one document needs several prefixes.
  const Task nwgi = load_task("nwgi", data(), false);
  const auto reqs = task_requests(nwgi, *tk_, 3, 0);
  LoglikOptions o;
  o.max_length = 40;
  o.progress = false;
  expect_matches_reference(*lm_, reqs, o, "nwgi truncated");
  LoglikStats st;
  score_loglik(*lm_, reqs, o, &st);
  EXPECT_EQ(st.truncated_docs, 3);
  int64_t want_tokens = 0;
  for (const auto& r : reqs) {
    size_t longest = 0;
    for (const auto& c : r.continuations) longest = std::max(longest, c.size());
    want_tokens += static_cast<int64_t>(r.context.size() + longest) - 41;
  }
  EXPECT_EQ(st.truncated_tokens, want_tokens);
}

TEST(ScoringMla, SharedPrefixOnConvertedLayouts) {
  // MLA caches hold latents: the selected prefixes must serve both attention paths alike.
  for (const char* name : {"dsv3_qlora", "dsv2_lite"}) {
    CausalLm lm = load_causal_lm(test::data_dir() / "decoder" / "tiny_models" / name, {});
    torch::manual_seed(5);
    std::vector<LoglikRequest> reqs;
    for (int r = 0; r < 4; ++r) {
      LoglikRequest q;
      const int64_t len = 3 + 4 * (r / 2);  // pairs of equal context length: one tail batch
      torch::Tensor ids = torch::randint(lm->config.vocab_size, {len + 9}, torch::kLong);
      for (int64_t i = 0; i < len; ++i)
        q.context.push_back(static_cast<int32_t>(ids[i].item<int64_t>()));
      for (int64_t j = 0, at = len; j < 3; at += j + 1, ++j) {  // continuations of 1, 2, 3 tokens
        std::vector<int32_t> c;
        for (int64_t t = 0; t <= j; ++t)
          c.push_back(static_cast<int32_t>(ids[at + t].item<int64_t>()));
        q.continuations.push_back(c);
      }
      reqs.push_back(q);
    }
    LoglikOptions o;
    o.batch = 2;
    o.progress = false;
    expect_matches_reference(lm, reqs, o, name);
  }
}

TEST_F(Scoring, BatchedGenerationEqualsOnePromptAtATime) {
  const Task fpb = load_task("fpb", data(), true);
  std::vector<std::vector<int32_t>> prompts;
  for (int64_t i = 0; i < 4; ++i) prompts.push_back(tk_->encode(task_prompt(fpb, i, i % 2, 1234)));
  prompts.push_back(prompts[0]);  // equal lengths decode as one batch
  GenerateOptions o;
  o.max_new_tokens = 6;
  o.batch = 3;
  o.progress = false;
  GenerateStats st;
  // Prompt 0 stops after 2 tokens while its twin (prompt 4) rides in the same decode batch.
  const auto stop_first = [](size_t i, const std::vector<int32_t>& gen) {
    return i == 0 && gen.size() == 2;
  };
  const auto got = generate_greedy(*lm_, prompts, o, stop_first, &st);
  for (size_t i = 0; i < prompts.size(); ++i) {
    Sampler greedy({});
    std::vector<int32_t> want = generate(*lm_, prompts[i], 6, greedy);
    if (i == 0) want.resize(2);
    EXPECT_EQ(got[i], want) << "prompt " << i;
  }
  EXPECT_EQ(st.new_tokens, 26);
  EXPECT_LT(st.forwards, 1 + 5 * 6);  // fewer forwards than one decode per prompt and token
  // Truncation keeps the last max_length - max_new_tokens prompt tokens.
  o.max_length = 30;
  const auto cut = generate_greedy(*lm_, {prompts[3]}, o, nullptr, &st);
  Sampler greedy({});
  EXPECT_EQ(cut[0], generate(*lm_, std::vector<int32_t>(prompts[3].end() - 24, prompts[3].end()),
                             6, greedy));
  EXPECT_EQ(st.truncated_docs, 1);
  EXPECT_EQ(st.truncated_tokens, static_cast<int64_t>(prompts[3].size()) - 24);
}

TEST_F(Scoring, EarlyStopKeepsEveryAnswer) {
  // With the label rule, generation stops once the answer is settled, never changing it. The
  // prompts repeat a pattern so that the model answers with a label (the 16M model does not
  // follow FinLoRA's instruction) next to a prompt it answers with text.
  const std::vector<std::string> labels = {"negative", "neutral", "positive"};
  std::vector<std::vector<int32_t>> prompts;
  for (const auto& l : labels)
    prompts.push_back(tk_->encode("Sentiment: " + l + "\nSentiment: " + l + "\nSentiment:"));
  prompts.push_back(tk_->encode(task_prompt(load_task("fpb", data(), false), 0, 0, 1234)));
  GenerateOptions o;
  o.max_new_tokens = 8;
  o.progress = false;
  const auto full = generate_greedy(*lm_, prompts, o);
  const auto settled = [&](size_t, const std::vector<int32_t>& gen) {
    return label_decided(tk_->decode(gen, true), labels, false);
  };
  const auto early = generate_greedy(*lm_, prompts, o, settled);
  int stopped_early = 0;
  for (size_t i = 0; i < prompts.size(); ++i) {
    ASSERT_LE(early[i].size(), full[i].size());
    stopped_early += early[i].size() < full[i].size();
    EXPECT_TRUE(std::equal(early[i].begin(), early[i].end(), full[i].begin()));
    EXPECT_EQ(earliest_label(tk_->decode(early[i], true), labels, false),
              earliest_label(tk_->decode(full[i], true), labels, false));
  }
  EXPECT_GE(stopped_early, 2);
}

// transformers' per-choice log-likelihoods on the same weights (tools/make_eval_goldens.py, run
// on the GPU machine in float32 on its CPU): same prompts, same token split, within 1e-4.
TEST_F(Scoring, MatchesTransformersGoldens) {
  const fs::path file = test::data_dir() / "eval" / "loglik_goldens.json";
  if (!fs::exists(file)) GTEST_SKIP() << file << " not generated yet (tools/make_eval_goldens.py)";
  const nlohmann::json g = read_json_file(file);
  for (const auto& t : g["tasks"]) {
    const Task task = load_task(t["task"], data(), t["shots"].get<int64_t>() > 0);
    const int64_t n = static_cast<int64_t>(t["docs"].size());
    const auto reqs = task_requests(task, *tk_, n, t["shots"]);
    LoglikOptions o;
    o.progress = false;
    const auto got = score_loglik(*lm_, reqs, o);
    for (int64_t i = 0; i < n; ++i) {
      const auto& d = t["docs"][i];
      EXPECT_EQ(task_prompt(task, i, t["shots"], 1234), d["context"].get<std::string>());
      EXPECT_EQ(reqs[i].context, d["context_ids"].get<std::vector<int32_t>>());
      for (size_t j = 0; j < reqs[i].continuations.size(); ++j) {
        EXPECT_EQ(reqs[i].continuations[j], d["continuation_ids"][j].get<std::vector<int32_t>>());
        EXPECT_NEAR(got[i][j].logprob, d["logprob"][j].get<double>(), 1e-4)
            << t["task"] << " doc " << i << " choice " << j;
        EXPECT_EQ(got[i][j].greedy, d["greedy"][j].get<bool>());
      }
    }
  }
}

}  // namespace
}  // namespace yz
