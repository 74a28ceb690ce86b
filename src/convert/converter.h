// `youzhi convert`: GQA checkpoint -> MLA checkpoint (mla_conversion.md §3.6), streamed one
// decoder layer at a time: pass A (original model) gives the RoRoPE + FreqFold rotation, pass B
// (step-1 model) the balanced-KV PCA, and the converted layer goes straight to the output while
// evaluation windows advance through the original, step-1 and converted layers side by side.
// Host memory holds one layer of weights plus the token streams, never the whole model twice.
#pragma once

#include <torch/torch.h>

#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "convert/calibration.h"
#include "convert/gqa_to_mla.h"
#include "convert/layer_fit.h"
#include "util/fs.h"

namespace yz {

// Where the GQA weights come from: a checkpoint (pages released after every layer) or an
// in-memory model (tests, benches).
struct ModelSource {
  ModelConfig config;
  nlohmann::json config_json;
  TensorSource tensor;
  std::function<void()> release = [] {};
};
ModelSource checkpoint_source(const fs::path& dir);
ModelSource module_source(CausalLm& lm, const nlohmann::json& config_json);

// Token windows a conversion runs on (int64 ids).
struct ConversionData {
  torch::Tensor calib;   // [N, T] calibration
  torch::Tensor select;  // [M, T'] selection split; needed only by --freqfold auto
  std::vector<std::pair<std::string, torch::Tensor>> eval;  // name -> [chunks, ctx]
};

// Receives converted tensors (HF names) as layers finish, in the conversion dtype.
using TensorSink = std::function<void(const std::string& name, const torch::Tensor& value)>;

struct ConversionOptions {
  torch::Device device = torch::kCPU;
  torch::ScalarType dtype = torch::kFloat;  // streams and layers (tests use float64)
  bool progress = true;
  TensorSink partial;  // optional: also receives the step-1 (partial RoPE) model
  bool score_original = true;  // false: no ppl.original (a caller that already has it)
  FitOptions fit;              // factorization, refits, local distillation (layer_fit.h)
};

// The conversion proper. `plan.freqfold` empty means auto: TransMLA's greedy doubling scored by
// step-1 perplexity on data.select. Returns the report (issue #4 keys: ppl.{original,
// partial_rope, final}, kv_elements_per_token.{before, after}, layers, phases).
nlohmann::ordered_json convert_stream(const ModelSource& source, MlaPlan plan,
                                      const ConversionData& data, const TensorSink& out,
                                      const ConversionOptions& options);
// The plan a conversion carried out: `requested` per layer with the folds it used (report's
// plan.freqfold, which `auto` fills in).
MlaPlan converted_plan(const MlaPlan& requested, const ModelConfig& gqa,
                       const nlohmann::json& report);

// The GQA attention of a decoder layer.
GqaAttentionImpl& gqa_attention(DecoderLayerImpl& layer);
// An MLA decoder layer of `mla_config`: attention from `attn` (local names, e.g.
// "kv_b_proj.weight"), norms and MLP from the GQA layer.
DecoderLayer build_mla_layer(const ModelConfig& mla_config, int64_t layer, DecoderLayerImpl& gqa,
                             const std::map<std::string, torch::Tensor>& attn,
                             const LoadOptions& options);

// In memory, for tests and benches: the converted and step-1 models plus the report.
struct ConversionResult {
  CausalLm partial{nullptr};
  CausalLm final{nullptr};
  nlohmann::ordered_json report;
};
ConversionResult convert_module(CausalLm& gqa, const nlohmann::json& config_json,
                                const MlaPlan& plan, const ConversionData& data,
                                const FitOptions& fit = {}, bool progress = false);
// A model of `config_json` whose parameters come from `tensors` (HF names).
CausalLm model_from_tensors(const nlohmann::json& config_json,
                            const std::map<std::string, torch::Tensor>& tensors);

struct ConvertRequest {
  fs::path model, out;
  MlaPlan plan;  // freqfold: one value for every layer, a value per layer, or empty (auto)
  std::vector<fs::path> calib;
  CalibrationOptions calibration;
  std::vector<fs::path> select;  // selection text for auto; default: held out from calib
  CalibrationOptions selection{16, 1024, 7};
  std::vector<fs::path> eval_files;
  int64_t eval_ctx = 1024;
  int64_t eval_chunks = 32;
  bool overwrite = false;
  torch::Device device = torch::kCPU;
  bool progress = true;
  // Layer-adaptive planning (planner.h): "fold" or "budget"; empty = the plan as given.
  std::string adaptive;
  int64_t kv_elements_per_layer = 0;  // budget: mean r + d_r per layer (0: d_r + kv_lora_rank)
  fs::path profile_cache;             // reuse sensitivity profiles of the same plan settings
  // Weights and activations of the planning forwards: bfloat16 halves the cost of a plan for
  // 7B-class models on a GPU (the conversion itself always runs in float32).
  torch::ScalarType plan_dtype = torch::kFloat;
  FitOptions fit;  // how each layer's weights are chosen; the planner profiles with it too
  int64_t plan_local_steps = 0;  // local steps inside adaptive plan profiles
};

// KV elements per layer for a budget given as a fraction of the GQA cache (2·G·D per layer).
int64_t budget_elements_per_layer(const ModelConfig& gqa, double fraction);

// Validates everything before heavy work, converts, writes request.out atomically (weights in
// the source dtype, config.json with the `youzhi` record, tokenizer files); returns the report.
nlohmann::ordered_json convert_model(const ConvertRequest& request);

}  // namespace yz
