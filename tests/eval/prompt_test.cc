// Prompts against independent references: PyRandom against CPython's random.Random draws, and
// few-shot prompts byte for byte against the texts tools/make_eval_expected.py builds in Python
// (tests/data/eval/); _encode_pair on hand-made cases with the bundled tokenizer.
#include "eval/prompt.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "eval/harness.h"
#include "eval/py_random.h"
#include "eval/tasks.h"
#include "test_util.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/json_file.h"

namespace yz {
namespace {

fs::path expected(const std::string& name) { return test::data_dir() / "eval" / name; }
fs::path data() { return test::shared_dir() / "data"; }

TEST(PyRandom, MatchesCPythonGetrandbits) {
  const nlohmann::json ref = read_json_file(expected("py_random.json"));
  for (auto it = ref["getrandbits32_every_50th"].begin();
       it != ref["getrandbits32_every_50th"].end(); ++it) {
    PyRandom rnd(std::stoull(it.key()));
    std::vector<uint32_t> every50;
    for (int i = 0; i < 700; ++i) {
      const uint32_t v = rnd.getrandbits(32);
      if (i % 50 == 0) every50.push_back(v);
    }
    EXPECT_EQ(every50, it.value().get<std::vector<uint32_t>>()) << "seed " << it.key();
  }
}

TEST(PyRandom, SampleMatchesCPythonInBothStrategies) {
  const nlohmann::json ref = read_json_file(expected("py_random.json"));
  ASSERT_GE(ref["sample"].size(), 8u);
  for (const auto& c : ref["sample"]) {
    PyRandom rnd(std::stoull(c["seed"].get<std::string>()));
    for (const auto& want : c["samples"])
      EXPECT_EQ(rnd.sample(c["n"], c["k"]), want.get<std::vector<int64_t>>())
          << "seed " << c["seed"] << " n " << c["n"] << " k " << c["k"];
  }
  PyRandom rnd(1);
  EXPECT_THROW(rnd.sample(3, 4), Error);
}

TEST(FewShot, PromptsAreByteIdenticalToThePythonReference) {
  struct Case {
    const char* task;
    int64_t shots;
    uint64_t seed;
    int64_t doc;
    const char* file;
  };
  for (const Case& c : {Case{"fpb", 3, 1234, 2, "prompt_fpb_k3_seed1234_doc2.txt"},
                        Case{"fpb", 5, 7, 0, "prompt_fpb_k5_seed7_doc0.txt"},
                        Case{"xbrl_term", 2, 1234, 1, "prompt_xbrl_term_k2_seed1234_doc1.txt"},
                        Case{"fineval", 5, 1234, 0, "prompt_fineval_k5_doc0.txt"}}) {
    const Task task = load_task(c.task, data(), /*with_shots=*/true);
    EXPECT_EQ(task_prompt(task, c.doc, c.shots, c.seed), read_text_file(expected(c.file)))
        << c.file;
  }
}

TEST(FewShot, ShotsComeOnlyFromTheTrainSplitAndFollowTheSeed) {
  const Task fpb = load_task("fpb", data(), true);
  EXPECT_EQ(fpb.shots.size(), 3629u);
  std::set<std::string> test_texts;
  for (const Doc& d : fpb.docs) test_texts.insert(d.text);
  for (const Doc& s : fpb.shots) EXPECT_EQ(test_texts.count(s.text), 0u) << s.text;
  EXPECT_NE(task_prompt(fpb, 0, 3, 1234), task_prompt(fpb, 0, 3, 1235));
  EXPECT_EQ(task_prompt(fpb, 0, 0, 1234), fpb.docs[0].text);
  // No pool: zero-shot whatever --shots says.
  const Task tfns = load_task("tfns", data(), true);
  EXPECT_EQ(ShotPicker(tfns, 5, 1234).k(), 0);
  EXPECT_EQ(task_prompt(tfns, 3, 5, 1234), tfns.docs[3].text);
  // first_n: more shots than a subject's dev split is an error, as in lm-eval.
  const Task fineval = load_task("fineval", data(), true);
  EXPECT_THROW(task_prompt(fineval, 0, 6, 1234), Error);
}

class EncodePair : public ::testing::Test {
 protected:
  tok::Tokenizer tk = tok::Tokenizer::from_file(test::source_dir() / "models" / "yz-qwen2-gqa-16m");
  std::vector<int32_t> enc(const std::string& s) { return tk.encode(s); }
};

TEST_F(EncodePair, TrailingWhitespaceMovesToTheContinuation) {
  // "Answer: " + "neutral": the context is encoded without its space and " neutral" is scored
  // (the byte-level pre-tokenizer keeps a leading space with its word).
  auto [ctx, cont] = encode_pair(tk, "Answer: ", "neutral", 0);
  EXPECT_EQ(ctx, enc("Answer:"));
  EXPECT_EQ(cont, enc(" neutral"));
  // Same split as the context without the space and the continuation with it.
  EXPECT_EQ(encode_pair(tk, "Answer:", " neutral", 0), std::make_pair(ctx, cont));
  // Several whitespace characters (a shot separator) move together.
  auto [c2, k2] = encode_pair(tk, "Q1 A1\n\n", "Q2", 0);
  EXPECT_EQ(c2, enc("Q1 A1"));
  std::vector<int32_t> whole = enc("Q1 A1\n\nQ2");
  EXPECT_EQ(k2, std::vector<int32_t>(whole.begin() + static_cast<int64_t>(c2.size()), whole.end()));
  // Unicode whitespace (U+3000, Python's str.rstrip() strips it) moves too.
  auto [c3, k3] = encode_pair(tk, "答案：\u3000", "A", 0);
  EXPECT_EQ(c3, enc("答案："));
  EXPECT_FALSE(k3.empty());
}

TEST_F(EncodePair, ContinuationIsTheTailOfTheWholeEncoding) {
  // C-Eval: "答案：" + " A" — the letter with its space is one word after the full-width colon.
  auto [ctx, cont] = encode_pair(tk, "答案：", " A", 0);
  EXPECT_EQ(ctx, enc("答案："));
  EXPECT_EQ(cont, enc(" A"));
  // A continuation that merges into the context's last word adds no token of its own: lm-eval
  // asserts; we refuse with a message.
  const std::vector<int32_t> word = enc("income");
  ASSERT_EQ(word.size(), 1u) << "test premise: 'income' is one token of this vocabulary";
  EXPECT_THROW(encode_pair(tk, "inc", "ome", 0), Error);
}

TEST_F(EncodePair, GenerationPromptIsTheLoglikContext) {
  // The FinLoRA prompt ends in "Answer: "; generation sees the same ids as the log-likelihood
  // context, not a trailing lone-space token.
  const std::string prompt = "Input: Sales rose.\nAnswer: ";
  EXPECT_EQ(generation_prompt(tk, prompt), encode_pair(tk, prompt, "neutral", 0).first);
  EXPECT_NE(generation_prompt(tk, prompt), enc(prompt));
  EXPECT_EQ(generation_prompt(tk, "Answer:"), enc("Answer:"));
  EXPECT_EQ(generation_prompt(tk, "  "), enc("  "));  // nothing but whitespace: kept
}

TEST_F(EncodePair, EmptyContextScoresAfterThePrefixToken) {
  auto [ctx, cont] = encode_pair(tk, "", " positive", 7);
  EXPECT_EQ(ctx, std::vector<int32_t>{7});
  EXPECT_EQ(cont, enc(" positive"));
  const int32_t first = enc(" positive").front();
  auto [c2, k2] = encode_pair(tk, "", " positive", first);  // starts with the prefix token
  EXPECT_EQ(c2, std::vector<int32_t>{first});
  EXPECT_EQ(k2.size(), enc(" positive").size() - 1);
}

}  // namespace
}  // namespace yz
