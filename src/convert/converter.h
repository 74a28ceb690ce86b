// `youzhi convert`: calibrate, rotate keys (RoRoPE + FreqFold), balanced-KV PCA, assemble and
// write the MLA checkpoint (`native` target), with perplexity at each stage and a report.
#pragma once

#include <torch/torch.h>

#include <functional>
#include <nlohmann/json.hpp>
#include <vector>

#include "convert/calibration.h"
#include "convert/gqa_to_mla.h"
#include "util/fs.h"

namespace yz {

struct ConvertRequest {
  fs::path model, out;
  MlaPlan plan;  // freqfold may hold one value (applied to every layer)
  std::vector<fs::path> calib;
  CalibrationOptions calibration;
  std::vector<fs::path> eval_files;
  int64_t eval_ctx = 1024;
  int64_t eval_chunks = 32;
  bool overwrite = false;
  torch::Device device = torch::kCPU;
  bool progress = true;
};

struct ConversionResult {
  CausalLm partial{nullptr};  // step 1 only (no truncation)
  CausalLm final{nullptr};
  nlohmann::ordered_json report;
};

// The conversion proper on a loaded GQA model and calibration ids [N, L]; `evaluate` scores a
// model at each stage (its result goes to report["ppl"][stage]). No files are touched.
using StageEval = std::function<nlohmann::ordered_json(CausalLm&)>;
ConversionResult convert_calibrated(CausalLm& gqa, const nlohmann::json& gqa_config_json,
                                    MlaPlan plan, const torch::Tensor& calib,
                                    const StageEval& evaluate, bool progress);
// Validates the request, samples calibration text, loads the model, converts (no files written).
ConversionResult convert_in_memory(const ConvertRequest& request);
// Runs it and writes request.out atomically; returns the report.
nlohmann::ordered_json convert_model(const ConvertRequest& request);

// Builds an MLA model from a GQA one: non-attention weights copied, attention from per-layer
// rotations and PCAs (an empty `pcas` gives the step-1 model). Float32 on the GQA's device.
CausalLm assemble_mla(CausalLm& gqa, const nlohmann::json& gqa_config_json, const MlaPlan& plan,
                      const std::vector<torch::Tensor>& rotations, const std::vector<JointPca>& pcas);

}  // namespace yz
