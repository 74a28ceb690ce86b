// Metrics against values computed by hand from their definitions (sklearn's f1_score, FinLoRA's
// evaluate_accuracy, rouge_score's LCS F-measure) and the early-stop rule against brute force.
#include "eval/batching.h"
#include "eval/metrics.h"

#include <gtest/gtest.h>

#include <random>

#include "eval/report.h"

namespace yz {
namespace {

TEST(Metrics, AccuracyAndNormalisedChoice) {
  EXPECT_EQ(argmax_choice({-3.0, -1.0, -1.0}), 1);  // np.argmax takes the first maximum
  // acc_norm divides by characters: "\u4e2d\u6587" is 2 characters (6 bytes).
  EXPECT_EQ(argmax_choice_norm({-4.0, -5.0}, {"ab", "\u4e2d\u6587xyz"}), 1);
  EXPECT_EQ(utf8_length("\u4e2d\u6587"), 2);
  EXPECT_DOUBLE_EQ(accuracy({0, 1, 2, 1}, {0, 2, 2, kMissing}), 0.5);
}

TEST(Metrics, MacroF1OverGoldLabels) {
  // gold 0 0 1 1 2, pred 0 1 1 1 -1: F1(0) = 2/3, F1(1) = 4/5, F1(2) = 0 -> 0.4888...
  EXPECT_NEAR(macro_f1({0, 0, 1, 1, 2}, {0, 1, 1, 1, kMissing}), (2.0 / 3 + 0.8 + 0) / 3, 1e-12);
  // A predicted label absent from gold is not averaged (FinBen passes labels=set(golds)).
  EXPECT_NEAR(macro_f1({0, 0}, {0, 1}), 2.0 / 3, 1e-12);
  const Majority m = majority_baseline({1, 1, 1, 0, 2});
  EXPECT_EQ(m.label, 1);
  EXPECT_DOUBLE_EQ(m.acc, 0.6);
  EXPECT_NEAR(m.macro_f1, (2 * 0.6 / 1.6) / 3, 1e-12);  // F1 of the majority label, over 3 labels
}

TEST(Metrics, EarliestLabel) {
  const std::vector<std::string> s = {"negative", "neutral", "positive"};
  EXPECT_EQ(earliest_label(" Neutral, not positive", s, false), 1);
  EXPECT_EQ(earliest_label("positive or negative", s, false), 2);
  EXPECT_EQ(earliest_label("no idea", s, false), kMissing);
  EXPECT_EQ(earliest_label(" Neutral", s, true), kMissing);
  const std::vector<std::string> n = {"negative", "strong negative", "mildly negative"};
  EXPECT_EQ(earliest_label("strong negative", n, false), 1);  // starts before "negative"
  EXPECT_EQ(earliest_label("B. yes (A)", {"A", "B", "C"}, true), 1);
}

TEST(Metrics, LabelDecidedNeverStopsBeforeTheAnswerIsFinal) {
  // Brute force: for random strings over a small alphabet, whenever label_decided(prefix) holds,
  // every extension keeps the same earliest label.
  const std::vector<std::string> labels = {"ab", "b", "abc", "ca"};
  std::mt19937 rng(3);
  const std::string alphabet = "abcx";
  int decided = 0;
  for (int trial = 0; trial < 4000; ++trial) {
    std::string full;
    for (int i = 0; i < 8; ++i) full.push_back(alphabet[rng() % alphabet.size()]);
    for (size_t cut = 1; cut <= full.size(); ++cut) {
      const std::string prefix = full.substr(0, cut);
      if (!label_decided(prefix, labels, true)) continue;
      ++decided;
      EXPECT_EQ(earliest_label(prefix, labels, true), earliest_label(full, labels, true))
          << prefix << " -> " << full;
      break;
    }
  }
  EXPECT_GT(decided, 1000);
  EXPECT_FALSE(label_decided("the answer is neu", {"neutral"}, false));
  EXPECT_TRUE(label_decided("neutral", {"negative", "neutral", "positive"}, false));
  // "not negative" could still become "not negative at all", which starts before "negative".
  EXPECT_FALSE(label_decided("not negative", {"negative", "not negative at all"}, false));
  // A label that can only start after the found one cannot take its place.
  EXPECT_TRUE(label_decided("x negative mildly", {"negative", "mildly negative"}, false));
}

TEST(Metrics, RougeL) {
  // tokens: [the cat sat on the mat] vs [the cat is on the mat]: LCS 5 -> P = R = 5/6.
  EXPECT_NEAR(rouge_l_f1("The cat sat on the mat.", "the cat is on the mat"), 5.0 / 6, 1e-12);
  // P = 2/2, R = 2/4 -> F = 2/3; punctuation splits tokens.
  EXPECT_NEAR(rouge_l_f1("net-income", "net income of firms"), 2.0 / 3, 1e-12);
  EXPECT_EQ(rouge_l_f1("", "x"), 0);
  EXPECT_EQ(rouge_l_f1("a b", "c d"), 0);
}

TEST(Report, CompareTableShowsBaselinesAndEveryRun) {
  const nlohmann::ordered_json a = {
      {"wall_s", 12.5},
      {"tasks",
       {{"fpb",
         {{"loglik", {{"acc", 0.7}, {"acc_norm", 0.65}, {"macro_f1", 0.5}}},
          {"majority", {{"label", "neutral"}, {"acc", 0.601}, {"macro_f1", 0.25}}}}},
        {"ppl_sec", {{"perplexity", {{"ppl", 25.8077}}}}}}}};
  nlohmann::ordered_json b = a;
  b["tasks"]["fpb"]["loglik"]["acc"] = 0.625;
  const std::vector<TableRow> rows = compare_rows({{"gqa", a}, {"mla", b}});
  ASSERT_GE(rows.size(), 5u);
  EXPECT_EQ(rows[0].metric, "loglik acc");
  EXPECT_EQ(rows[0].baseline, "60.1 (neutral)");
  EXPECT_EQ(rows[0].values, (std::vector<std::string>{"70.0", "62.5"}));
  const std::string md = render_table({{"gqa", a}, {"mla", b}}, /*markdown=*/true);
  EXPECT_NE(md.find("| ppl_sec | perplexity |  | 25.81 | 25.81 |"), std::string::npos) << md;
  EXPECT_NE(md.find("| task | metric | majority | gqa | mla |"), std::string::npos) << md;
}

TEST(Batching, LongestFirstWithinRowAndTokenBudgets) {
  // lengths 5 9 3 9 4: order 1 3 0 4 2 (stable for the two 9s)
  EXPECT_EQ(length_batches({5, 9, 3, 9, 4}, 2, 100),
            (std::vector<std::vector<size_t>>{{1, 3}, {0, 4}, {2}}));
  // 20 tokens: two rows of 9 fit (18), three rows of 5 do not (15 + ... the first row sets 5 x 3)
  EXPECT_EQ(length_batches({5, 9, 3, 9, 4}, 8, 20),
            (std::vector<std::vector<size_t>>{{1, 3}, {0, 4, 2}}));
  // A single row longer than the budget still gets its own batch.
  EXPECT_EQ(length_batches({50, 2}, 8, 20), (std::vector<std::vector<size_t>>{{0}, {1}}));
  std::vector<int32_t> a = {1, 2, 3}, b = {4};
  EXPECT_TRUE(torch::equal(padded_rows({&a, &b}, torch::kCPU, 0),
                           torch::tensor({1, 2, 3, 4, 0, 0}, torch::kLong).view({2, 3})));
}

}  // namespace
}  // namespace yz
