// A pipeline recipe (`youzhi pipeline RECIPE.json`): the original model and an ordered list of
// stages, each one `youzhi` command with its settings, that turn it into converted, healed and
// fine-tuned models and evaluate them. Torch-free: it only parses, validates and plans.
//
//   {"name": "...", "model": "../models/yz-qwen2-gqa-16m", "device": "cpu", "data_dir": "...",
//    "stages": [
//      {"name": "fin_sft", "kind": "data"},                          youzhi data fin-sft
//      {"name": "adaptive", "kind": "convert", "model": "@model",    youzhi convert
//       "calib": ["../data/demo/calibration_sotu_sec.txt.xz"], "args": {"adaptive": "budget"}},
//      {"name": "gkd", "kind": "distill", "teacher": "@model",       youzhi train distill
//       "student": "@adaptive", "data": ["$data/corpus/pretrain.txt.xz"], "args": {...}},
//      {"name": "gkd_sft", "kind": "sft", "model": "@gkd",           youzhi train sft
//       "data": ["@fin_sft"], "args": {"epochs": 1}},
//      {"name": "eval", "kind": "eval", "models": {"original": "@model", "adaptive + GKD + SFT":
//       "@gkd_sft"}, "args": {"tasks": "fpb,fiqa_sa,tfns,ppl_wikitext,ppl_sec"}}]}
//
// "@model" is the recipe's model, "@NAME" an earlier stage's output; "$data/" starts a path in
// the shared data folder; other relative paths are relative to the recipe file. "args" holds the
// command's own flags without dashes (true: a flag; arrays: repeated values); the flags a stage
// sets itself (paths, --out, --json, ...) are refused there. Every error names the JSON pointer.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "util/fs.h"

namespace yz::pipeline {

using Json = nlohmann::ordered_json;

enum class StageKind { kData, kConvert, kDistill, kSft, kEval };
const char* stage_kind_name(StageKind kind);

// A model or file a stage reads: an earlier stage's output, the recipe's model, or a path.
struct Input {
  std::string ref;  // "model", a stage name, or empty for a path
  fs::path path;    // resolved path (empty for stage refs until planned)
};

struct Stage {
  std::string name;
  StageKind kind = StageKind::kData;
  std::string pointer;                           // "/stages/3", for messages
  std::vector<std::pair<std::string, Input>> inputs;  // role ("model", "data", "calib", ...) -> input
  std::vector<std::pair<std::string, Input>> models;  // eval: row label -> model
  Json args = Json::object();
};

struct Recipe {
  fs::path path;  // the recipe file
  std::string name;
  fs::path model, data_dir;
  std::string device = "cpu";
  std::vector<Stage> stages;
};

// Parses and validates: unknown fields and stage kinds, wrong types, unknown or later stage
// references, flags the stage sets itself, duplicate names. `default_data_dir` is used when the
// recipe sets no "data_dir".
Recipe parse_recipe(const Json& json, const fs::path& path, const fs::path& default_data_dir);
Recipe load_recipe(const fs::path& path, const fs::path& default_data_dir);

// The output a stage leaves in its directory and later stages read ("@NAME").
fs::path stage_output(const Stage& stage, const fs::path& stage_dir);

// The `youzhi` arguments (without the program) that run `stage` in `stage_dir`, with every input
// resolved (`outputs`: stage name -> its output path). Eval stages run once per model: `row`
// picks the model.
std::vector<std::string> stage_argv(const Recipe& recipe, const Stage& stage,
                                    const fs::path& stage_dir,
                                    const std::vector<std::pair<std::string, fs::path>>& outputs,
                                    size_t row = 0);

// Where a stage's input lives once earlier stages ran.
fs::path resolve_input(const Recipe& recipe, const Input& input,
                       const std::vector<std::pair<std::string, fs::path>>& outputs);

}  // namespace yz::pipeline
