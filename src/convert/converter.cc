// Conversion orchestration (see converter.h): mla_conversion.md §3.6 steps 1–9.
#include "convert/converter.h"

#include <chrono>
#include <cstdio>

#include "eval/perplexity.h"
#include "model/hf_names.h"
#include "util/error.h"
#include "util/json_file.h"
#include "util/progress.h"
#include "util/safetensors_writer.h"
#include "util/tensor.h"
#include "util/text_file.h"

namespace yz {

namespace {

constexpr int64_t kCalibBatch = 8;  // calibration samples per forward

double seconds(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// Streams the calibration set through `lm`, calling observer for every layer's attention input.
void stream(CausalLm& lm, const torch::Tensor& calib, const LayerObserver& observer,
            const char* label, bool progress) {
  torch::NoGradGuard g;
  const torch::Device device = lm->model->embed_tokens->weight.device();
  Progress bar(label, calib.size(0), "samples", progress);
  for (int64_t s = 0; s < calib.size(0); s += kCalibBatch) {
    const int64_t b = std::min(kCalibBatch, calib.size(0) - s);
    lm->forward(calib.narrow(0, s, b).to(device), nullptr, observer);
    bar.add(b);
  }
}

nlohmann::ordered_json eval_all(CausalLm& lm, const tok::Tokenizer& tk,
                                const ConvertRequest& r) {
  nlohmann::ordered_json out = nlohmann::ordered_json::object();
  for (const auto& f : r.eval_files) {
    PplOptions o;
    o.ctx = r.eval_ctx;
    o.max_chunks = r.eval_chunks;
    o.progress = r.progress;
    out[f.filename().string()] = perplexity(lm, tk.encode(read_text_input(f)), o).ppl;
  }
  return out;
}

}  // namespace

CausalLm assemble_mla(CausalLm& gqa, const nlohmann::json& src, const MlaPlan& plan,
                      const std::vector<torch::Tensor>& rotations,
                      const std::vector<JointPca>& pcas) {
  const ModelConfig& c = gqa->config;
  MlaPlan p = plan;
  if (pcas.empty()) p.kv_lora_rank = max_kv_lora_rank(c, plan.rope_dim);
  CausalLm mla(parse_config(mla_config_json(src, c, p), "converted config"));
  const torch::Tensor& ref = gqa->model->embed_tokens->weight;
  auto gqa_params = gqa->named_parameters();
  torch::NoGradGuard g;
  for (auto& item : mla->named_parameters()) {
    const std::string& name = item.key();
    torch::Tensor value;
    if (auto* t = gqa_params.find(name); t != nullptr && name.find(".self_attn.") == std::string::npos) {
      value = *t;
    } else {
      // model.layers.{l}.self_attn.{tensor}
      const size_t a = std::string("model.layers.").size(), b = name.find('.', a);
      const int64_t l = std::stoll(name.substr(a, b - a));
      const std::string local = name.substr(name.find("self_attn.") + 10);
      auto* attn = gqa->model->layers[l]->as<DecoderLayerImpl>()->self_attn.get();
      auto tensors = mla_attention_tensors(*dynamic_cast<GqaAttentionImpl*>(attn), rotations[l],
                                           plan.rope_dim, pcas.empty() ? nullptr : &pcas[l]);
      YZ_ASSERT(tensors.count(local), "no converted tensor for ", name);
      value = tensors[local];
    }
    YZ_ASSERT(value.sizes() == item.value().sizes(), "shape of ", name);
    item.value().set_data(value.to(ref.device(), ref.scalar_type()).clone());
  }
  mla->eval();
  return mla;
}

ConversionResult convert_in_memory(const ConvertRequest& r) {
  // Everything that can be wrong with the inputs is checked before heavy work.
  const nlohmann::json src = read_json_file(r.model / "config.json");
  const ModelConfig cfg = load_config(r.model);
  const MlaPlan plan = per_layer_plan(r.plan, cfg.num_hidden_layers);
  validate_plan(cfg, plan);
  for (const auto& f : r.eval_files) YZ_CHECK(fs::is_regular_file(f), f.string(), ": no such file");
  tok::Tokenizer tk = tok::Tokenizer::from_file(r.model);
  const torch::Tensor calib = sample_calibration(tk, r.calib, r.calibration);
  CausalLm gqa = load_causal_lm(r.model, {r.device, torch::kFloat});
  ConversionResult res = convert_calibrated(
      gqa, src, plan, calib, [&](CausalLm& lm) { return eval_all(lm, tk, r); }, r.progress);
  res.report["calibration"] = {{"samples", r.calibration.samples},
                               {"length", r.calibration.length}, {"seed", r.calibration.seed}};
  return res;
}

ConversionResult convert_calibrated(CausalLm& gqa, const nlohmann::json& src, MlaPlan plan,
                                    const torch::Tensor& calib, const StageEval& evaluate,
                                    bool progress) {
  const ModelConfig& cfg = gqa->config;
  plan = per_layer_plan(plan, cfg.num_hidden_layers);
  validate_plan(cfg, plan);
  ConversionResult res;
  auto& rep = res.report;
  const int64_t L = cfg.num_hidden_layers, G = cfg.num_key_value_heads, D = cfg.head_dim;
  auto attn = [&](int64_t l) {
    return dynamic_cast<GqaAttentionImpl*>(
        gqa->model->layers[l]->as<DecoderLayerImpl>()->self_attn.get());
  };
  nlohmann::ordered_json phases = nlohmann::ordered_json::object();
  auto t0 = std::chrono::steady_clock::now();
  rep["ppl"]["original"] = evaluate(gqa);
  phases["eval_original_s"] = seconds(t0);

  // Pass A (original model): complex key Grams per layer -> RoRoPE + FreqFold rotations.
  t0 = std::chrono::steady_clock::now();
  std::vector<torch::Tensor> grams;  // one tensor per layer (a fill constructor would share one)
  for (int64_t l = 0; l < L; ++l) grams.push_back(torch::zeros({G * D / 2, G * D / 2}, torch::kDouble));
  stream(gqa, calib, [&](int64_t l, const torch::Tensor& x) {
    grams[l] += complex_key_gram(attn(l)->k_proj(x).reshape({-1, G * D}).cpu(), G, D);
  }, "calibration (original)", progress);
  std::vector<torch::Tensor> rotations;
  std::vector<double> rope_energy;
  for (int64_t l = 0; l < L; ++l) {
    Rotation rot = rorope_rotation(grams[l], G, D, plan.rope_dim, plan.freqfold[l]);
    rotations.push_back(rot.p);
    rope_energy.push_back(rot.rope_energy);
  }
  phases["rorope_s"] = seconds(t0);

  t0 = std::chrono::steady_clock::now();
  res.partial = assemble_mla(gqa, src, plan, rotations, {});
  rep["ppl"]["partial_rope"] = evaluate(res.partial);
  phases["eval_partial_rope_s"] = seconds(t0);

  // Pass B (step-1 model, so each layer sees upstream approximation error): joint KV Grams.
  t0 = std::chrono::steady_clock::now();
  const int64_t nk = G * D - plan.rope_dim;
  std::vector<torch::Tensor> kv_grams;
  for (int64_t l = 0; l < L; ++l) kv_grams.push_back(torch::zeros({nk + G * D, nk + G * D}, torch::kDouble));
  stream(res.partial, calib, [&](int64_t l, const torch::Tensor& x) {
    torch::Tensor k = attn(l)->k_proj(x).reshape({-1, G * D}).cpu().to(torch::kDouble).mm(rotations[l]);
    torch::Tensor v = attn(l)->v_proj(x).reshape({-1, G * D}).cpu().to(torch::kDouble);
    torch::Tensor z = torch::cat({k.narrow(1, plan.rope_dim, nk), v}, 1);
    kv_grams[l] += z.t().mm(z);
  }, "calibration (partial RoPE)", progress);
  std::vector<JointPca> pcas;
  nlohmann::ordered_json layers = nlohmann::ordered_json::array();
  for (int64_t l = 0; l < L; ++l) {
    pcas.push_back(balanced_kv_pca(kv_grams[l], G * D, plan.rope_dim, plan.kv_lora_rank, plan.balance));
    layers.push_back({{"layer", l}, {"freqfold", plan.freqfold[l]}, {"alpha", pcas[l].alpha},
                      {"rope_energy_kept", rope_energy[l]}, {"pca_energy_kept", pcas[l].energy_kept},
                      {"key_error", pcas[l].key_error}, {"value_error", pcas[l].value_error}});
  }
  res.final = assemble_mla(gqa, src, plan, rotations, pcas);
  phases["pca_s"] = seconds(t0);
  t0 = std::chrono::steady_clock::now();
  rep["ppl"]["final"] = evaluate(res.final);
  phases["eval_final_s"] = seconds(t0);
  rep["kv_elements_per_token"] = {{"before", cfg.kv_elements_per_token()},
                                  {"after", res.final->config.kv_elements_per_token()}};
  rep["kv_bytes_per_token_bf16"] = {{"before", cfg.kv_bytes_per_token_bf16()},
                                    {"after", res.final->config.kv_bytes_per_token_bf16()}};
  rep["layers"] = layers;
  rep["phases"] = phases;
  return res;
}

nlohmann::ordered_json convert_model(const ConvertRequest& r) {
  StagedDir out(r.out, r.overwrite, {r.model});  // refuse a bad --out before any work
  ConversionResult res = convert_in_memory(r);
  const ModelConfig src_cfg = load_config(r.model);
  const torch::ScalarType dtype = src_cfg.torch_dtype == "float32" ? torch::kFloat
                                  : src_cfg.torch_dtype == "float16" ? torch::kHalf
                                                                     : torch::kBFloat16;
  ShardedWriter writer(out.path());
  for (const auto& item : res.final->named_parameters())
    write_tensor(writer, item.key(), item.value().detach().to(torch::kCPU, dtype));
  writer.finish();
  const MlaPlan plan = per_layer_plan(r.plan, src_cfg.num_hidden_layers);
  nlohmann::ordered_json cfg = mla_config_json(read_json_file(r.model / "config.json"), src_cfg, plan);
  cfg["youzhi"]["calibration"] = res.report["calibration"];
  write_file_atomic(out.path() / "config.json", cfg.dump(2) + "\n");
  for (const char* f : {"tokenizer.json", "tokenizer_config.json", "chat_template.jinja",
                        "generation_config.json", "special_tokens_map.json"})
    if (fs::is_regular_file(r.model / f)) write_file_atomic(out.path() / f, read_text_file(r.model / f));
  out.commit();
  return res.report;
}

}  // namespace yz
