// `youzhi bench convert` (issue #5): at identical KV elements per token, the original model,
// TransMLA's default uniform fold, the best uniform fold chosen on the selection split, and the
// two layer-adaptive planners, over several calibration seeds; perplexity on every eval file,
// ΔPPL against the original, and R = (ΔPPL_uniform_best − ΔPPL_adaptive) / ΔPPL_uniform_best.
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
};

// Runs the benchmark and writes out (.json, .md, .svg); returns the JSON.
nlohmann::ordered_json run_convert_bench(const ConvertBenchRequest& request);

// The markdown table and the SVG chart of a results JSON (exposed for tests).
std::string bench_markdown(const nlohmann::ordered_json& results);
std::string bench_svg(const nlohmann::ordered_json& results);

}  // namespace yz
