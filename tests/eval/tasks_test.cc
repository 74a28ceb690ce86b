// Every built-in task loads from ../shared/data with the split sizes and label shares the README
// states; file formats (CSV, JSONL, Python dict literals) and bad input name FILE:LINE.
#include "eval/tasks.h"

#include <gtest/gtest.h>

#include <fstream>
#include <map>

#include "eval/formats.h"
#include "eval/metrics.h"
#include "test_util.h"
#include "util/error.h"

namespace yz {
namespace {

fs::path data() { return test::shared_dir() / "data"; }

void write(const fs::path& p, const std::string& text) {
  std::ofstream(p, std::ios::binary) << text;
}

using test::error_of;

std::vector<int64_t> golds(const Task& t) {
  std::vector<int64_t> g;
  for (const Doc& d : t.docs) g.push_back(d.gold);
  return g;
}

TEST(Tasks, SplitSizesAndMajorityShares) {
  struct Want {
    const char* name;
    size_t docs, shots;
    int64_t majority;
    size_t majority_count;
  };
  // Majority counts from the local files (evaluation.md A2c; TFNS after the label fix).
  for (const Want& w : {Want{"fpb", 1212, 3629, 1, 729}, Want{"fiqa_sa", 235, 0, 2, 141},
                        Want{"tfns", 2388, 0, 1, 1566}, Want{"nwgi", 4047, 0, 5, 1522},
                        Want{"cfa", 1032, 0, 1, 359}, Want{"fineval", 3340, 170, -1, 0},
                        Want{"cflue", 2345, 0, -1, 0}, Want{"financeiq", 7123, 50, -1, 0}}) {
    const Task t = load_task(w.name, data(), /*with_shots=*/true);
    EXPECT_EQ(t.docs.size(), w.docs) << w.name;
    EXPECT_EQ(t.shots.size(), w.shots) << w.name;
    if (w.majority < 0) continue;
    const Majority m = majority_baseline(golds(t));
    EXPECT_EQ(m.label, w.majority) << w.name;
    EXPECT_NEAR(m.acc, static_cast<double>(w.majority_count) / w.docs, 1e-12) << w.name;
  }
  const Task x = load_task("xbrl_term", data(), true);
  EXPECT_EQ(x.docs.size(), 651u);
  EXPECT_EQ(x.shots.size(), 5856u);
  EXPECT_EQ(x.kind, TaskKind::kText);
}

TEST(Tasks, PromptFormats) {
  const Task fpb = load_task("fpb", data(), false);
  EXPECT_EQ(fpb.docs[0].text,
            "Instruction: What is the sentiment of this news? Please choose an answer from "
            "{negative/neutral/positive}.\nInput: L&T has also made a commitment to redeem the "
            "remaining shares by the end of 2011 .\nAnswer: ");
  EXPECT_EQ(fpb.target_delimiter, "");
  EXPECT_TRUE(fpb.shots.empty());  // not read for a zero-shot run
  const Task cflue = load_task("cflue", data(), false);
  EXPECT_EQ(cflue.docs[0].text,
            "在选项中鉴别哪一种进口货物是不必支付进口关税的？\nA. 关税金额等同于80人民币的机票\nB. "
            "商业价值一定的货样\nC. 因储存疏忽导致损坏的商品\nD. 外国政府免费赠送的物资\n答案：");
  EXPECT_EQ(cflue.docs[0].description,
            "以下是中国关于注册会计师的单项选择题，请选出其中的正确答案。\n\n");
  EXPECT_EQ(cflue.docs[0].gold, 3);
  EXPECT_EQ(cflue.docs[0].choices, (std::vector<std::string>{"A", "B", "C", "D"}));
  const Task cfa = load_task("cfa", data(), false);
  EXPECT_EQ(cfa.docs[0].choices[cfa.docs[0].gold], "C");
  EXPECT_TRUE(cfa.case_sensitive);
  // TFNS: FinLoRA's "neutral" rows are TFNS's Bullish class (an upgrade here).
  const Task tfns = load_task("tfns", data(), false);
  int64_t found = 0;
  for (const Doc& d : tfns.docs) {
    if (d.text.find("CNH Industrial upped to Buy") == std::string::npos) continue;
    EXPECT_EQ(d.choices[d.gold], "positive");
    ++found;
  }
  EXPECT_EQ(found, 1);
  const Task ppl = load_task("ppl_wikitext", data(), false);
  EXPECT_EQ(utf8_length(ppl.text), 400000);
  EXPECT_EQ(ppl.text.find('\r'), std::string::npos);
}

TEST(Tasks, FpbTrainSplitHoldsNoTestSentence) {
  int64_t excluded = 0;
  const std::vector<Doc> train = fpb_train_docs(data(), &excluded);
  EXPECT_EQ(train.size(), 3629u);
  EXPECT_EQ(excluded, 4846 - 3629);  // 1,210 distinct test sentences, 7 of them twice in 50Agree
  std::set<std::string> test;
  for (const Doc& d : load_task("fpb", data(), false).docs) test.insert(d.text);
  for (const Doc& d : train) EXPECT_EQ(test.count(d.text), 0u);
}

TEST(Tasks, NamesSuitesAndErrors) {
  EXPECT_EQ(resolve_task_names({}, "general"), std::vector<std::string>{"ppl_wikitext"});
  EXPECT_EQ(resolve_task_names({"ppl_sec", "fpb", "fpb"}, ""),
            (std::vector<std::string>{"fpb", "ppl_sec"}));
  EXPECT_EQ(resolve_task_names({}, "all").size(), task_catalog().size());
  const std::string unknown = error_of([] { resolve_task_names({"fbp"}, ""); });
  EXPECT_NE(unknown.find("unknown task 'fbp'"), std::string::npos) << unknown;
  EXPECT_NE(unknown.find("fpb, fiqa_sa, tfns"), std::string::npos) << unknown;
  test::TempDir dir;
  const std::string missing = error_of([&] { load_task("nwgi", dir.path(), false); });
  EXPECT_NE(missing.find((dir.path() / "fin_eval/finlora/nwgi_test.jsonl").string() + ": missing"),
            std::string::npos)
      << missing;
  EXPECT_NE(missing.find("Open-Finance-Lab/FinLoRA"), std::string::npos) << missing;
}

TEST(Formats, JsonlRowsNameTheirLine) {
  test::TempDir dir;
  write(dir / "t.jsonl", "{\"context\": \"a\", \"target\": \"b\"}\n\n{\"context\": 1}\n");
  const std::string e = error_of([&] { load_task_file(dir / "t.jsonl"); });
  EXPECT_NE(e.find("t.jsonl:3: field 'context' must be a string"), std::string::npos) << e;
  write(dir / "u.jsonl", "{\"context\": \"a\", \"target\": \"b\"}\n{not json\n");
  EXPECT_NE(error_of([&] { read_jsonl(dir / "u.jsonl"); }).find("u.jsonl:2: not valid JSON"),
            std::string::npos);
}

TEST(Formats, TaskFileForms) {
  test::TempDir dir;
  write(dir / "mc.jsonl",
        "{\"context\": \"Q1?\", \"choices\": [\"yes\", \"no\"], \"gold\": 1}\n"
        "{\"context\": \"Q2?\", \"choices\": [\"yes\", \"no\"], \"gold\": \"yes\"}\n");
  const Task mc = load_task_file(dir / "mc.jsonl");
  EXPECT_EQ(mc.name, "mc");
  EXPECT_EQ(mc.kind, TaskKind::kChoice);
  EXPECT_TRUE(mc.classification);
  EXPECT_EQ(golds(mc), (std::vector<int64_t>{1, 0}));
  write(dir / "gen.jsonl", "{\"context\": \"Say hi:\", \"target\": \"hi\"}\n");
  EXPECT_EQ(load_task_file(dir / "gen.jsonl").kind, TaskKind::kText);
  write(dir / "bad.jsonl", "{\"context\": \"Q\", \"choices\": [\"a\"], \"gold\": 3}\n");
  EXPECT_NE(error_of([&] { load_task_file(dir / "bad.jsonl"); }).find("bad.jsonl:1: 'gold'"),
            std::string::npos);
  write(dir / "mixed.jsonl",
        "{\"context\": \"Q\", \"target\": \"a\"}\n"
        "{\"context\": \"Q\", \"choices\": [\"a\"], \"gold\": 0}\n");
  EXPECT_NE(error_of([&] { load_task_file(dir / "mixed.jsonl"); }).find("mixed.jsonl:2:"),
            std::string::npos);
}

TEST(Formats, CsvQuotesNewlinesAndRagged) {
  test::TempDir dir;
  write(dir / "a.csv",
        "\xEF\xBB\xBFid,q,x\r\n0,\"multi\r\nline, \"\"quoted\"\"\",z\r\n1,plain,y\r\n");
  const auto rows = read_csv(dir / "a.csv");
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].fields.at("q"), "multi\r\nline, \"quoted\"");
  EXPECT_EQ(rows[1].line, 4);
  write(dir / "b.csv", "id,q\n0,a\n1,b,c\n");
  EXPECT_NE(error_of([&] { read_csv(dir / "b.csv"); }).find("b.csv:3: 3 fields, the header has 2"),
            std::string::npos);
}

TEST(Formats, PythonDictLiterals) {
  const auto d =
      parse_python_str_dict(R"({'A': 'it\'s', "B": "a \"q\"", 'C': '\\quad\n\x41\u4e2d'})");
  ASSERT_EQ(d.size(), 3u);
  EXPECT_EQ(d[0], std::make_pair(std::string("A"), std::string("it's")));
  EXPECT_EQ(d[1].second, "a \"q\"");
  EXPECT_EQ(d[2].second, "\\quad\nA中");
  EXPECT_THROW(parse_python_str_dict("{'A': 1}"), Error);
  EXPECT_THROW(parse_python_str_dict("{'A': 'x'"), Error);
  EXPECT_EQ(latin1_to_utf8("caf\xE9"), "café");
  EXPECT_EQ(py_strip("\u3000 x y\n\t"), "x y");
  EXPECT_EQ(trailing_space_bytes("a\u3000 "), 4u);
}

}  // namespace
}  // namespace yz
