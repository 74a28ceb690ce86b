// The pipeline against a stand-in `youzhi` (a shell script that records its calls and writes what
// each command would): the command line of every stage, the closing table from the eval results,
// resume (a second run runs nothing; a training stage killed mid-way gets --resume), re-runs on a
// changed setting or input file (that stage and everything downstream, with a message), a failing
// stage named with its log, and recipe errors named by JSON pointer.
#include <gtest/gtest.h>

#include <fstream>

#include "pipeline/recipe.h"
#include "pipeline/runner.h"
#include "pipeline/table.h"
#include "test_util.h"
#include "util/error.h"

namespace yz::pipeline {
namespace {

using test::TempDir;

void write(const fs::path& p, const std::string& text) { std::ofstream(p) << text; }
Json read_json(const fs::path& p) { return Json::parse(read_text_file(p)); }

// Records its arguments in $CALLS; model dirs carry kv (bytes/token) and acc (an accuracy that
// every convert / train stage raises by 0.01).
constexpr const char* kFakeYouzhi = R"SH(#!/bin/bash
echo "$*" >> "$CALLS"
out=""; prev=""; for a in "$@"; do [ "$prev" = "--out" ] && out=$a; prev=$a; done
case "$1" in
  data) echo '{"context": "c", "target": " t"}' > "$out"; echo '{"rows": 1}' ;;
  convert|train)
    model=""; calib=/dev/null; prev=""; for a in "$@"; do
      { [ "$prev" = "--model" ] || [ "$prev" = "--student" ]; } && model=$a
      [ "$prev" = "--calib" ] && calib=$a; prev=$a; done
    [ -n "$FAIL_TRAIN" ] && [ "$1" = train ] && { echo "boom: $FAIL_TRAIN" >&2; exit 3; }
    mkdir -p "$out/train"; echo '{}' > "$out/train/args.json"
    # The output depends on the settings and on every input's content, as a real one does.
    echo "$*" > "$out/args.txt"; cat "$calib" "$model"/* 2>/dev/null | cksum > "$out/parent"
    kv=$(cat "$model/kv"); acc=$(cat "$model/acc")
    [ "$1" = convert ] && kv=$((kv / 3))
    echo "$kv" > "$out/kv"; echo "0.$(( ${acc#0.} + 1 ))" > "$out/acc"
    echo "progress line"; echo '{"done": true}' ;;
  eval)
    [ -n "$FAIL_EVAL" ] && { echo "eval broke" >&2; exit 1; }
    kv=$(cat "$2/kv"); acc=$(cat "$2/acc")
    t="{\"loglik\": {\"acc\": $acc}, \"generate\": {\"acc\": 0.5}, \"majority\": {\"acc\": 0.6}}"
    echo "{\"kv_bytes_per_token_bf16\": $kv, \"limit\": 20, \"device\": \"cpu\", \"tasks\": {\"fpb\": $t, \"fiqa_sa\": $t, \"tfns\": $t, \"ppl_sec\": {\"perplexity\": {\"ppl\": 19.5}}, \"ppl_wikitext\": {\"perplexity\": {\"ppl\": 97.25}}}}" > "$out" ;;
esac
)SH";

class Pipeline : public ::testing::Test {
 protected:
  void SetUp() override {
    exe_ = dir_ / "youzhi";
    write(exe_, kFakeYouzhi);
    fs::permissions(exe_, fs::perms::owner_all);
    fs::create_directories(dir_ / "orig");
    write(dir_ / "orig" / "kv", "4096\n");
    write(dir_ / "orig" / "acc", "0.61\n");
    write(dir_ / "calib.txt", "calibration text\n");
    write(dir_ / "corpus.txt", "pretraining text\n");
    ::setenv("CALLS", (dir_ / "calls.txt").c_str(), 1);
  }
  Json recipe_json() const {
    return Json::parse(R"({"name": "test", "model": "orig", "data_dir": "data", "stages": [
      {"name": "fin_sft", "kind": "data", "args": {"text-share": 0.1}},
      {"name": "adaptive", "kind": "convert", "model": "@model", "calib": ["calib.txt"],
       "args": {"adaptive": "budget", "kv-budget": 0.3333}},
      {"name": "gkd", "kind": "distill", "teacher": "@model", "student": "@adaptive",
       "data": ["corpus.txt"], "args": {"steps": 2, "lambda": 0}},
      {"name": "gkd_sft", "kind": "sft", "model": "@gkd", "data": ["@fin_sft"], "args": {"epochs": 1}},
      {"name": "eval", "kind": "eval", "models": {"original": "@model", "adaptive + GKD + SFT": "@gkd_sft"},
       "args": {"tasks": "fpb,fiqa_sa,tfns,ppl_wikitext,ppl_sec", "protocol": "both", "limit": 20}}]})");
  }
  Json run(const Json& recipe) {
    write(dir_ / "recipe.json", recipe.dump());
    RunOptions o;
    o.out = dir_ / "run";
    o.exe = exe_;
    o.quiet = true;
    return run_pipeline(load_recipe(dir_ / "recipe.json", "/nonexistent"), o);
  }
  std::vector<std::string> calls() {
    std::vector<std::string> out;
    std::ifstream in(dir_ / "calls.txt");
    for (std::string l; std::getline(in, l);) out.push_back(l);
    fs::remove(dir_ / "calls.txt");
    return out;
  }
  static std::string first_word(const std::string& s) { return s.substr(0, s.find(' ')); }
  TempDir dir_;
  fs::path exe_;
};

TEST_F(Pipeline, RunsTheStagesAndWritesTheTable) {
  const Json s = run(recipe_json());
  const std::vector<std::string> c = calls();
  ASSERT_EQ(c.size(), 6u);
  const std::string d = dir_.path().string(), run_dir = d + "/run";
  EXPECT_EQ(c[0], "data fin-sft --data-dir " + d + "/data --out " + run_dir + "/fin_sft/fin_sft.jsonl --json --text-share 0.1");
  EXPECT_EQ(c[1], "convert --device cpu --model " + d + "/orig --calib " + d + "/calib.txt --out " + run_dir +
                      "/adaptive/model --json --adaptive budget --kv-budget 0.3333");
  EXPECT_EQ(c[2], "train distill --device cpu --teacher " + d + "/orig --student " + run_dir +
                      "/adaptive/model --data " + d + "/corpus.txt --out " + run_dir +
                      "/gkd/model --json --steps 2 --lambda 0");
  EXPECT_EQ(c[3], "train sft --device cpu --model " + run_dir + "/gkd/model --data " + run_dir +
                      "/fin_sft/fin_sft.jsonl --out " + run_dir + "/gkd_sft/model --json --epochs 1");
  EXPECT_EQ(c[4], "eval " + d + "/orig --device cpu --data-dir " + d + "/data --out " + run_dir +
                      "/eval/row0.json --overwrite --tasks fpb,fiqa_sa,tfns,ppl_wikitext,ppl_sec "
                      "--protocol both --limit 20");
  EXPECT_EQ(c[5].rfind("eval " + run_dir + "/gkd_sft/model --device cpu", 0), 0u) << c[5];
  // stage.json: complete, the command's summary, a hash per input.
  const Json st = read_json(dir_ / "run" / "gkd" / "stage.json");
  EXPECT_EQ(st["status"], "complete");
  EXPECT_EQ(st["results"], Json::parse(R"({"done": true})"));
  EXPECT_EQ(st["inputs"].size(), 3u);  // teacher, student, corpus
  EXPECT_EQ(st["inputs"][d + "/corpus.txt"], input_hash(dir_ / "corpus.txt"));
  // The table: KV 4096 -> 1365 bytes/token, concurrency 4096/1365, the SFT row's accuracy.
  const Json& t = s["table"];
  ASSERT_EQ(t["rows"].size(), 2u);
  EXPECT_EQ(t["rows"][0]["model"], "original");
  EXPECT_EQ(t["rows"][0]["kv_elements_per_token"], 2048);
  EXPECT_EQ(t["rows"][1]["kv_elements_per_token"], 682);
  EXPECT_DOUBLE_EQ(t["rows"][1]["concurrency_x"].get<double>(), 4096.0 / 1365.0);
  EXPECT_DOUBLE_EQ(t["rows"][1]["acc"]["tfns"]["loglik"].get<double>(), 0.64);  // three stages
  EXPECT_NEAR(t["rows"][0]["mean_fin_acc"]["loglik"].get<double>(), 0.61, 1e-12);
  EXPECT_DOUBLE_EQ(t["rows"][1]["ppl_sec"].get<double>(), 19.5);
  EXPECT_NEAR(t["majority"]["mean"].get<double>(), 0.6, 1e-12);
  const std::string md = read_text_file(dir_ / "run" / "table.md");
  EXPECT_NE(md.find("| adaptive + GKD + SFT | 682 | 3.00 | 97.25 | 19.50 | 64.0 / 50.0 | 64.0 / 50.0 | "
                    "64.0 / 50.0 | 64.0 / 50.0 |"),
            std::string::npos) << md;
  EXPECT_NE(md.find("| majority class | | | | | 60.0 | 60.0 | 60.0 | 60.0 |"), std::string::npos) << md;
  EXPECT_NE(md.find("first 20 documents"), std::string::npos);
  const std::string svg = read_text_file(dir_ / "run" / "table.svg");
  EXPECT_EQ(svg.rfind("<svg", 0), 0u);
  EXPECT_NE(svg.find("adaptive + GKD + SFT"), std::string::npos);
  EXPECT_EQ(read_json(dir_ / "run" / "table.json"), t);

  // A long recipe name wraps into title lines that fit the chart's width, and the bars move down.
  Json long_name = t;
  long_name["recipe"] = "yz-qwen2-gqa-16m at a third of the KV cache, adaptive conversion with output-aware "
                        "fits, GKD of all weights on 15M tokens, SFT mixed with GKD from the original";
  const std::string wrapped = table_svg(long_name);
  std::vector<std::string> titles;
  const std::string title_tag = "font-size=\"14\">";
  for (size_t at = wrapped.find(title_tag); at != std::string::npos; at = wrapped.find(title_tag, at + 1)) {
    const size_t from = at + title_tag.size();
    titles.push_back(wrapped.substr(from, wrapped.find("</text>", from) - from));
    EXPECT_LE(titles.back().size(), 90u) << wrapped;
  }
  ASSERT_EQ(titles.size(), 3u) << wrapped;
  EXPECT_EQ(titles[0] + " " + titles[1] + " " + titles[2],
            long_name["recipe"].get<std::string>() + ": mean accuracy on FPB, FiQA-SA, TFNS (%)");
  EXPECT_NE(wrapped.find("<rect x=\"220\" y=\"76\""), std::string::npos) << wrapped;  // 40 + 2 lines of 18
  EXPECT_NE(svg.find("<rect x=\"220\" y=\"40\""), std::string::npos) << svg;       // a short name: one line
}

TEST_F(Pipeline, ResumesAndRerunsWhatChanged) {
  run(recipe_json());
  calls();
  run(recipe_json());
  EXPECT_TRUE(calls().empty()) << "a complete pipeline runs nothing again";

  Json r = recipe_json();
  r["stages"][3]["args"]["epochs"] = 2;  // the SFT setting: SFT and eval again, nothing upstream
  run(r);
  std::vector<std::string> c = calls();
  ASSERT_EQ(c.size(), 3u);
  EXPECT_EQ(c[0].substr(0, 9), "train sft");
  EXPECT_EQ(first_word(c[1]), "eval");

  write(dir_ / "calib.txt", "other calibration text\n");  // an input file: convert and downstream
  run(r);
  c = calls();
  ASSERT_EQ(c.size(), 5u);
  EXPECT_EQ(first_word(c[0]), "convert");

  // Killed during training: stage.json says running with the same key -> --resume.
  const fs::path state = dir_ / "run" / "gkd_sft" / "stage.json";
  Json st = read_json(state);
  st["status"] = "running";
  write_file_atomic(state, st.dump());
  run(r);
  c = calls();
  ASSERT_EQ(c.size(), 3u);
  EXPECT_NE(c[0].find("train sft"), std::string::npos);
  EXPECT_EQ(c[0].substr(c[0].size() - 8), "--resume");
}

TEST_F(Pipeline, FailingStageNamesItsLog) {
  ::setenv("FAIL_TRAIN", "out of memory", 1);
  std::string e;
  try {
    run(recipe_json());
  } catch (const Error& err) {
    e = err.what();
  }
  ::unsetenv("FAIL_TRAIN");
  EXPECT_NE(e.find("pipeline stage gkd (recipe /stages/2) failed with exit 3"), std::string::npos) << e;
  EXPECT_NE(e.find("boom: out of memory"), std::string::npos) << e;
  EXPECT_EQ(read_json(dir_ / "run" / "gkd" / "stage.json")["status"], "running");
}

TEST(Recipe, ErrorsNameTheJsonPointer) {
  const Json good = Json::parse(R"({"model": "m", "stages": [
      {"name": "a", "kind": "convert", "model": "@model", "calib": ["c"]},
      {"name": "e", "kind": "eval", "models": {"x": "@a"}}]})");
  auto error = [&](const std::function<void(Json&)>& edit) {
    Json j = good;
    edit(j);
    try {
      parse_recipe(j, "/r/recipe.json", "/data");
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("(no error)");
  };
  EXPECT_EQ(error([](Json&) {}), "(no error)");
  EXPECT_NE(error([](Json& j) { j["stages"][0]["kind"] = "serve"; }).find("recipe /stages/0/kind: unknown stage kind 'serve'"),
            std::string::npos);
  EXPECT_NE(error([](Json& j) { j["stages"][0]["rank"] = 3; }).find("recipe /stages/0/rank: unknown field of a convert stage"),
            std::string::npos);
  EXPECT_NE(error([](Json& j) { j["stages"][0]["args"] = {{"out", "x"}}; }).find("recipe /stages/0/args/out: set by the pipeline"),
            std::string::npos);
  EXPECT_NE(error([](Json& j) { j["stages"][0]["args"] = {{"rope-dim", {{"a", 1}}}}; })
                .find("recipe /stages/0/args/rope-dim: expected a boolean, number, string"),
            std::string::npos);
  EXPECT_NE(error([](Json& j) { j["stages"][0]["model"] = "@e"; }).find("recipe /stages/0/model: '@e' names no earlier stage"),
            std::string::npos);
  EXPECT_NE(error([](Json& j) { j["stages"][1]["models"]["x"] = "@nope"; }).find("recipe /stages/1/models/x: '@nope'"),
            std::string::npos);
  EXPECT_NE(error([](Json& j) { j["stages"][0].erase("calib"); }).find("recipe /stages/0: a convert stage needs 'calib'"),
            std::string::npos);
  EXPECT_NE(error([](Json& j) { j["stages"][1]["name"] = "a"; }).find("recipe /stages/1/name: 'a' is used twice"),
            std::string::npos);
  EXPECT_NE(error([](Json& j) { j["stages"][1]["kind"] = 4; }).find("recipe /stages/1/kind: expected a string"),
            std::string::npos);
  EXPECT_NE(error([](Json& j) { j["steps"] = 4; }).find("recipe /steps: unknown field"), std::string::npos);
  // Paths: relative to the recipe, $data/ in the data folder.
  Json j = good;
  j["stages"][0]["calib"] = {"$data/corpus/x.txt.xz", "rel/c.txt", "/abs/c.txt"};
  const Recipe r = parse_recipe(j, "/r/recipe.json", "/data");
  EXPECT_EQ(r.model, fs::path("/r/m"));
  EXPECT_EQ(r.stages[0].inputs[1].second.path, fs::path("/data/corpus/x.txt.xz"));
  EXPECT_EQ(r.stages[0].inputs[2].second.path, fs::path("/r/rel/c.txt"));
  EXPECT_EQ(r.stages[0].inputs[3].second.path, fs::path("/abs/c.txt"));
}

}  // namespace
}  // namespace yz::pipeline
