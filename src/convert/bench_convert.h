// `youzhi bench convert` (issues #5, #17): at identical KV elements per token, the original model,
// TransMLA's default uniform fold, the best uniform fold chosen on the selection split, and the
// two layer-adaptive planners, over several calibration seeds; with a conversion method beyond
// TransMLA's (FitOptions), the best uniform fold with each of its stages added in turn
// ("uniform_best+whitened", "+refit", "+local") and the budget planner with all of them
// ("adaptive_budget+fit"), so the table separates the plan's gain from the factorization's.
// Perplexity on every eval file, ΔPPL against the original, and for every converted row but
// the two uniform baselines R = (ΔPPL_uniform_best − ΔPPL_row) / ΔPPL_uniform_best.
#pragma once

#include <nlohmann/json.hpp>
#include <vector>

#include "convert/converter.h"

namespace yz {

struct ConvertBenchRequest {
  fs::path model;
  double kv_budget = 0.5;              // fraction of the GQA cache
  std::vector<fs::path> calib, select, eval_files;
  int seeds = 3;
  CalibrationOptions calibration{128, 256, 42};
  CalibrationOptions selection{16, 1024, 7};
  int64_t eval_ctx = 1024, eval_chunks = 32;
  int64_t rope_dim = 0;                // uniform d_r (default head_dim / 2)
  torch::Device device = torch::kCPU;
  fs::path out;                        // RESULTS.json; RESULTS.md and RESULTS.svg beside it
  fs::path profile_cache;
  bool progress = true;
  FitOptions fit;                      // the method of the "+" rows (default: none of them)
  int64_t plan_local_steps = 0;        // local steps inside the "+fit" plan's profiles
};

// Runs the benchmark and writes out (.json, .md, .svg); returns the JSON.
nlohmann::ordered_json run_convert_bench(const ConvertBenchRequest& request);

// The markdown table and the SVG chart of a results JSON (exposed for tests).
std::string bench_markdown(const nlohmann::ordered_json& results);
std::string bench_svg(const nlohmann::ordered_json& results);

}  // namespace yz
