// Sources, sinks and the file-level `youzhi convert` (see converter.h): validation before heavy
// work, tokenized calibration / selection / evaluation windows, the streamed conversion written
// into a staged directory that only appears complete.
#include <cmath>
#include <map>
#include <optional>

#include "convert/converter.h"
#include "convert/planner.h"
#include "model/hf_names.h"
#include "util/error.h"
#include "util/json_file.h"
#include "util/safetensors.h"
#include "util/safetensors_writer.h"
#include "util/tensor.h"
#include "util/text_file.h"

namespace yz {

ModelSource checkpoint_source(const fs::path& dir) {
  auto ckpt = std::make_shared<Checkpoint>(dir);
  ModelSource s{load_config(dir), read_json_file(dir / "config.json"), {}, {}};
  s.tensor = [ckpt, dir](const std::string& name) {
    YZ_CHECK(ckpt->has(name), dir.string(), ": checkpoint lacks tensor '", name, "'");
    return to_tensor(ckpt->view(name));
  };
  s.release = [ckpt] { ckpt->release_pages(); };
  return s;
}

ModelSource module_source(CausalLm& lm, const nlohmann::json& config_json) {
  auto params = std::make_shared<torch::OrderedDict<std::string, torch::Tensor>>(lm->named_parameters());
  ModelSource s{lm->config, config_json, {}, [] {}};
  s.tensor = [params](const std::string& name) {
    if (const auto* t = params->find(name)) return t->detach();
    YZ_CHECK(name == "lm_head.weight", "model has no tensor '", name, "'");
    return params->find("model.embed_tokens.weight")->detach();
  };
  return s;
}

CausalLm model_from_tensors(const nlohmann::json& config_json,
                            const std::map<std::string, torch::Tensor>& tensors) {
  CausalLm lm(parse_config(config_json, "converted config"));
  torch::NoGradGuard g;
  for (auto& item : lm->named_parameters()) {
    auto it = tensors.find(item.key());
    YZ_ASSERT(it != tensors.end(), "no tensor for ", item.key());
    YZ_ASSERT(it->second.sizes() == item.value().sizes(), "shape of ", item.key());
    item.value().set_data(it->second.clone());
  }
  lm->eval();
  return lm;
}

ConversionResult convert_module(CausalLm& gqa, const nlohmann::json& config_json,
                                const MlaPlan& plan, const ConversionData& data,
                                const FitOptions& fit, bool progress) {
  std::map<std::string, torch::Tensor> fin, partial;
  ConversionOptions o;
  o.device = gqa->model->embed_tokens->weight.device();
  o.dtype = gqa->model->embed_tokens->weight.scalar_type();
  o.progress = progress;
  o.fit = fit;
  o.partial = [&](const std::string& n, const torch::Tensor& t) { partial[n] = t.detach().clone(); };
  ConversionResult r;
  r.report = convert_stream(module_source(gqa, config_json), plan, data,
                            [&](const std::string& n, const torch::Tensor& t) {
                              fin[n] = t.detach().clone();
                            }, o);
  const ModelConfig& c = gqa->config;
  const MlaPlan done = converted_plan(plan, c, r.report);
  r.final = model_from_tensors(mla_config_json(config_json, c, done), fin);
  r.partial = model_from_tensors(mla_config_json(config_json, c, step1_plan(c, done)), partial);
  return r;
}

int64_t budget_elements_per_layer(const ModelConfig& c, double fraction) {
  YZ_CHECK(fraction > 0 && fraction <= 1, "--kv-budget ", fraction,
           " must be a fraction of the GQA cache in (0, 1]");
  return static_cast<int64_t>(std::llround(fraction * 2 * c.num_key_value_heads * c.head_dim));
}

nlohmann::ordered_json convert_model(const ConvertRequest& request) {
  ConvertRequest r = request;
  // Everything that can be wrong with the inputs is checked before heavy work.
  StagedDir out(r.out, r.overwrite, {r.model});
  const ModelConfig cfg = load_config(r.model);
  MlaPlan probe = per_layer_plan(r.plan, cfg.num_hidden_layers);
  if (probe.freqfold.empty())
    probe.freqfold.assign(cfg.num_hidden_layers, cfg.head_dim / std::max<int64_t>(1, probe.rope_dims.at(0)));
  validate_plan(cfg, probe);
  for (const auto& f : r.calib) YZ_CHECK(fs::is_regular_file(f), "--calib ", f.string(), ": no such file");
  for (const auto& f : r.select) YZ_CHECK(fs::is_regular_file(f), "--select ", f.string(), ": no such file");
  // The selection split (adaptive plans, --freqfold auto): the --select texts when given, else
  // documents of --calib that calibration did not use. (Until 2026-11-30 --adaptive always took
  // the held-out --calib documents and ignored --select.)
  const bool adaptive = !r.adaptive.empty();
  const bool needs_select = adaptive || r.plan.freqfold.empty();
  for (const auto& f : r.eval_files) {
    YZ_CHECK(fs::is_regular_file(f), "--eval-file ", f.string(), ": no such file");
    for (const auto& s : (r.select.empty() ? r.calib : r.select))
      YZ_CHECK(!needs_select || !same_file(f, s), "--eval-file ", f.string(),
               " is also the selection text: --freqfold auto and --adaptive must select on held-out text");
  }
  YZ_CHECK(r.fit.local_steps >= 0 && r.plan_local_steps >= 0, "--local-steps must be >= 0");
  if (r.fit.needs_data()) {
    // Refits and distillation read the original layers' attention: every tensor must be there
    // before the sweep starts (a converted or truncated checkpoint fails here, by name).
    Checkpoint ckpt(r.model);
    for (int64_t l = 0; l < cfg.num_hidden_layers; ++l)
      for (const char* p : {"q_proj", "k_proj", "v_proj", "o_proj"}) {
        const std::string name = layer_prefix(l) + "self_attn." + p + ".weight";
        YZ_CHECK(ckpt.has(name), r.model.string(), ": ", r.fit.local_steps > 0 ? "--local-steps" : "--refit",
                 " needs the original attention weights, and the checkpoint lacks '", name, "'");
      }
  }
  std::optional<AdaptiveMode> mode;
  if (adaptive) mode = parse_adaptive_mode(r.adaptive);
  tok::Tokenizer tk = tok::Tokenizer::from_file(r.model);
  ConversionData data;
  if (needs_select && r.select.empty()) {
    CalibrationSplit split = sample_calibration_split(tk, r.calib, r.calibration, r.selection);
    data.calib = split.calib;
    data.select = split.select;
  } else {
    data.calib = sample_calibration(tk, r.calib, r.calibration);
    if (needs_select) data.select = sample_calibration(tk, r.select, r.selection);
  }
  nlohmann::ordered_json adaptive_report;
  if (adaptive) {
    // Plan on the model in memory (profiles need every layer), then convert streamed.
    PlanRequest pr;
    pr.mode = *mode;
    pr.elements_per_layer = r.kv_elements_per_layer > 0 ? r.kv_elements_per_layer
                                                        : probe.rope_dims.at(0) + probe.kv_lora_ranks.at(0);
    pr.rope_dim = probe.rope_dims.at(0);
    pr.balance = r.plan.balance;
    pr.profile_cache = r.profile_cache;
    pr.cache_key = fs::weakly_canonical(r.model).string() + "|" +
                   std::to_string(Checkpoint(r.model).num_bytes());
    pr.progress = r.progress;
    pr.fit = r.fit;
    pr.fit.seed = r.calibration.seed;
    pr.fit.local_steps = r.plan_local_steps;
    CausalLm gqa = load_causal_lm(r.model, {r.device, r.plan_dtype});
    AdaptivePlan ap = plan_adaptive(gqa, read_json_file(r.model / "config.json"), data.calib,
                                    data.select, pr);
    const MlaPlan base = r.plan;
    r.plan = ap.plan;
    r.plan.q_lora_rank = base.q_lora_rank;
    r.plan.latent_norm = base.latent_norm;
    r.plan.target = base.target;
    validate_plan(cfg, r.plan);
    adaptive_report = ap.report;
  }
  for (const auto& f : r.eval_files)
    data.eval.emplace_back(f.filename().string(), eval_windows(tk, f, r.eval_ctx, r.eval_chunks));

  const torch::ScalarType dtype = cfg.torch_dtype == "float32" ? torch::kFloat
                                  : cfg.torch_dtype == "float16" ? torch::kHalf
                                                                 : torch::kBFloat16;
  ShardedWriter writer(out.path());
  ConversionOptions o;
  o.device = r.device;
  o.progress = r.progress;
  o.fit = r.fit;
  o.fit.seed = r.calibration.seed;
  nlohmann::ordered_json report = convert_stream(
      checkpoint_source(r.model), r.plan, data,
      [&](const std::string& name, const torch::Tensor& t) {
        write_tensor(writer, name, t.detach().to(torch::kCPU, dtype));
      }, o);
  writer.finish();
  report["calibration"] = {{"samples", r.calibration.samples}, {"length", r.calibration.length},
                           {"seed", r.calibration.seed}};
  if (adaptive) report["adaptive"] = adaptive_report;
  nlohmann::ordered_json config = mla_config_json(read_json_file(r.model / "config.json"), cfg,
                                                  converted_plan(r.plan, cfg, report));
  config["youzhi"]["calibration"] = report["calibration"];
  write_file_atomic(out.path() / "config.json", config.dump(2) + "\n");
  for (const char* f : {"tokenizer.json", "tokenizer_config.json", "chat_template.jinja",
                        "generation_config.json", "special_tokens_map.json"})
    if (fs::is_regular_file(r.model / f)) write_file_atomic(out.path() / f, read_text_file(r.model / f));
  out.commit();
  return report;
}

}  // namespace yz
