// The streamed conversion (see converter.h): mla_conversion.md §3.6 steps 2–7 one layer at a
// time, and the `--freqfold auto` search (§4, scored on a selection split, not the eval text).
#include "convert/converter.h"

#include <chrono>
#include <cmath>
#include <map>
#include <optional>

#include "convert/activations.h"
#include "kernels/ops.h"
#include "model/hf_names.h"
#include "util/error.h"
#include "util/memory.h"
#include "util/progress.h"

namespace yz {

GqaAttentionImpl& gqa_attention(DecoderLayerImpl& layer) {
  return *dynamic_cast<GqaAttentionImpl*>(layer.self_attn.get());
}

DecoderLayer build_mla_layer(const ModelConfig& cfg, int64_t l, DecoderLayerImpl& gqa,
                             const std::map<std::string, torch::Tensor>& attn,
                             const LoadOptions& options) {
  auto params = gqa.named_parameters();
  const std::string prefix = layer_prefix(l);
  LoadOptions shared = options;
  shared.copy = false;  // MLP and norms stay the GQA layer's tensors
  return load_decoder_layer(cfg, l, [&](const std::string& name) {
    const std::string local = name.substr(prefix.size());
    if (local.rfind("self_attn.", 0) == 0) return attn.at(local.substr(10));
    return *params.find(local);
  }, shared);
}

namespace {

using Clock = std::chrono::steady_clock;
double since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

// Wall time and peak host / device memory of one phase (peaks reset when it starts).
class PhaseMeter {
 public:
  explicit PhaseMeter(torch::Device d) : device_(d), t0_(Clock::now()) {
    reset_peak_rss();
    if (d.is_cuda()) kernels::reset_device_peak(kernels::device_ordinal(d));
  }
  nlohmann::ordered_json finish() const {
    return {{"wall_s", since(t0_)}, {"peak_rss_bytes", peak_rss_bytes()},
            {"peak_device_bytes",
             device_.is_cuda() ? kernels::device_peak_bytes(kernels::device_ordinal(device_)) : 0}};
  }

 private:
  torch::Device device_;
  Clock::time_point t0_;
};

struct Context {
  const ModelSource& src;
  const ConversionOptions& opt;
  std::vector<int64_t> rotary_dims;
  ActivationStream stream(const torch::Tensor& ids) const {
    return ActivationStream(ids, src.config.rope, src.config.max_position_embeddings, rotary_dims,
                            opt.device, opt.dtype);
  }
  DecoderLayer gqa_layer(int64_t l) const {
    return load_decoder_layer(src.config, l, src.tensor, {opt.device, opt.dtype});
  }
};

DecoderLayer mla_layer(const ModelConfig& cfg, int64_t l, DecoderLayerImpl& gqa,
                       const std::map<std::string, torch::Tensor>& attn, const Context& ctx) {
  return build_mla_layer(cfg, l, gqa, attn, {ctx.opt.device, ctx.opt.dtype});
}

// Σ over calibration tokens of the complex key Gram (§3.2 step 4), float64 on the device.
torch::Tensor key_gram(ActivationStream& s, DecoderLayerImpl& layer, const ModelConfig& c) {
  const int64_t G = c.num_key_value_heads, D = c.head_dim;
  torch::Tensor gram;
  s.observe(layer, [&](const torch::Tensor& x) {
    torch::Tensor g = complex_key_gram(gqa_attention(layer).k_proj(x).reshape({-1, G * D}), G, D);
    gram = gram.defined() ? gram + g : g;
  });
  return gram.cpu();
}

// γ = E[RMS(W x + b)] over calibration tokens: the latent norm's initial weight (§2.4, the
// minimiser of E‖γ·c/RMS(c) − c‖², not TransMLA's E[1/RMS]).
double mean_rms(ActivationStream& s, DecoderLayerImpl& layer, const torch::Tensor& w,
                const torch::Tensor& b) {
  double total = 0;
  const torch::Tensor wd = w.to(layer.input_layernorm->weight.options());
  const torch::Tensor bd = b.defined() ? b.to(wd.options()) : b;
  s.observe(layer, [&](const torch::Tensor& x) {
    torch::Tensor c = torch::nn::functional::linear(x, wd, bd).to(torch::kDouble);
    total += c.pow(2).mean(-1).sqrt().sum().item<double>();
  });
  return total / static_cast<double>(s.tokens());
}

void emit(const TensorSink& sink, int64_t l, DecoderLayerImpl& layer) {
  if (!sink) return;
  for (const auto& item : layer.named_parameters()) sink(layer_prefix(l) + item.key(), item.value());
}

struct HeadWeights {
  RmsNorm norm{nullptr};
  torch::Tensor head;  // [vocab, hidden]
};
HeadWeights head_weights(const Context& ctx) {
  const ModelConfig& c = ctx.src.config;
  HeadWeights h{RmsNorm(c.hidden_size, c.rms_norm_eps), {}};
  h.norm->weight.set_data(ctx.src.tensor("model.norm.weight").to(ctx.opt.device, ctx.opt.dtype));
  h.head = ctx.src.tensor(c.tie_word_embeddings ? "model.embed_tokens.weight" : "lm_head.weight")
               .to(ctx.opt.device, ctx.opt.dtype);
  return h;
}

double ppl_of(ActivationStream& s, HeadWeights& h) {
  return std::exp(s.nll_sum(*h.norm, h.head) / static_cast<double>(s.predictions()));
}

// `--freqfold auto` (§4, TransMLA's search): step-1 perplexity on the selection split for every
// allowed f (one pass: pass-A Grams do not depend on f), then greedy doubling from f = c that
// stops at the first non-improvement. Returns the Grams so the conversion does not redo pass A.
struct FoldSearch {
  int64_t freqfold = 0;
  std::vector<torch::Tensor> grams;
  nlohmann::ordered_json report;
};
FoldSearch search_freqfold(const Context& ctx, const MlaPlan& plan, const ConversionData& data) {
  const ModelConfig& c = ctx.src.config;
  YZ_CHECK(data.select.defined(), "--freqfold auto needs a selection split");
  YZ_CHECK(is_uniform(plan), "--freqfold auto needs one --rope-dim for every layer");
  const int64_t d_r = plan.rope_dims.at(0);
  const std::vector<int64_t> folds = freqfold_choices(c, d_r);
  const torch::Tensor embed = ctx.src.tensor("model.embed_tokens.weight");
  ActivationStream calib = ctx.stream(data.calib);
  calib.embed(embed);
  std::vector<ActivationStream> sel;
  for (size_t i = 0; i < folds.size(); ++i) {
    sel.push_back(ctx.stream(data.select));
    sel.back().embed(embed);
  }
  FoldSearch out;
  std::vector<ModelConfig> step1;
  for (int64_t f : folds) {
    MlaPlan p = step1_plan(c, plan);
    p.freqfold.assign(c.num_hidden_layers, f);
    step1.push_back(parse_config(mla_config_json(ctx.src.config_json, c, p), "step-1 config"));
  }
  Progress bar("freqfold search", c.num_hidden_layers, "layers", ctx.opt.progress);
  for (int64_t l = 0; l < c.num_hidden_layers; ++l) {
    DecoderLayer gqa = ctx.gqa_layer(l);
    out.grams.push_back(key_gram(calib, *gqa, c));
    for (size_t i = 0; i < folds.size(); ++i) {
      Rotation rot = rorope_rotation(out.grams.back(), c.num_key_value_heads, c.head_dim,
                                     d_r, folds[i]);
      auto attn = mla_attention_tensors(gqa_attention(*gqa), rot.p, d_r, {});
      DecoderLayer layer = mla_layer(step1[i], l, *gqa, attn, ctx);
      sel[i].advance(*layer);
    }
    if (l + 1 < c.num_hidden_layers) calib.advance(*gqa);
    ctx.src.release();
    bar.add(1);
  }
  bar.finish();
  HeadWeights head = head_weights(ctx);
  std::vector<double> ppl;
  nlohmann::ordered_json scores = nlohmann::ordered_json::object();
  for (size_t i = 0; i < folds.size(); ++i) {
    ppl.push_back(ppl_of(sel[i], head));
    scores[std::to_string(folds[i])] = ppl.back();
  }
  size_t best = 0;
  while (best + 1 < folds.size() && ppl[best + 1] < ppl[best]) ++best;
  out.freqfold = folds[best];
  out.report = {{"chosen", out.freqfold}, {"selection_ppl_partial_rope", scores},
                {"selection_tokens", data.select.numel()}};
  return out;
}

}  // namespace

MlaPlan converted_plan(const MlaPlan& requested, const ModelConfig& gqa,
                       const nlohmann::json& report) {
  MlaPlan done = per_layer_plan(requested, gqa.num_hidden_layers);
  done.freqfold = report.at("plan").at("freqfold").get<std::vector<int64_t>>();
  return done;
}

nlohmann::ordered_json convert_stream(const ModelSource& src, MlaPlan plan,
                                      const ConversionData& data, const TensorSink& out,
                                      const ConversionOptions& opt) {
  const ModelConfig& c = src.config;
  const int64_t L = c.num_hidden_layers, G = c.num_key_value_heads, D = c.head_dim;
  YZ_CHECK(data.calib.defined() && data.calib.dim() == 2 && data.calib.size(0) > 0,
           opt.fit.local_steps > 0 ? "--local-steps needs calibration windows (--calib)"
                                   : "the conversion needs calibration windows (--calib)");
  plan = per_layer_plan(plan, L);
  std::vector<int64_t> dims = {D};
  dims.insert(dims.end(), plan.rope_dims.begin(), plan.rope_dims.end());
  Context ctx{src, opt, dims};
  nlohmann::ordered_json rep, phases = nlohmann::ordered_json::object();
  std::vector<torch::Tensor> grams;
  if (plan.freqfold.empty()) {
    MlaPlan probe = plan;  // everything but f is checked before the search runs
    probe.freqfold.assign(L, D / plan.rope_dims.at(0));
    validate_plan(c, probe);
    PhaseMeter meter(opt.device);
    FoldSearch s = search_freqfold(ctx, plan, data);
    plan.freqfold.assign(L, s.freqfold);
    grams = std::move(s.grams);
    rep["freqfold_search"] = s.report;
    phases["freqfold_search"] = meter.finish();
  }
  validate_plan(c, plan);
  const bool stock = plan.target == Target::kStock, norm = has_latent_norm(plan);
  const ModelConfig final_cfg = parse_config(mla_config_json(src.config_json, c, plan), "config");
  const ModelConfig step1_cfg =
      parse_config(mla_config_json(src.config_json, c, step1_plan(c, plan)), "step-1 config");
  MlaPlan native = plan;  // the exact export, scored beside `stock` to show the bias/norm cost
  native.target = Target::kNative;
  native.latent_norm = false;
  const ModelConfig native_cfg = parse_config(mla_config_json(src.config_json, c, native), "config");
  // A stock export of per-layer dims pads every layer to the widest one (pad_attention).
  const bool padded = stock && !is_uniform(plan);

  PhaseMeter meter(opt.device);
  std::map<std::string, double> t;  // seconds per step of the sweep
  auto t0 = Clock::now();
  const torch::Tensor embed = src.tensor("model.embed_tokens.weight");
  const FitOptions& fit = opt.fit;
  // Original-model calibration stream: pass A (unless a fold search already gave its Grams) and
  // the refits' targets; the converted prefix's stream when the fits read converted inputs.
  std::optional<ActivationStream> calib_orig, calib_conv;
  if (grams.empty() || fit.needs_data()) {
    calib_orig.emplace(ctx.stream(data.calib));
    calib_orig->embed(embed);
  }
  if (fit.needs_data() && fit.inputs == FitInputs::kConverted) {
    calib_conv.emplace(ctx.stream(data.calib));
    calib_conv->embed(embed);
  }
  ActivationStream calib_step1 = ctx.stream(data.calib);  // pass B input
  calib_step1.embed(embed);
  std::vector<std::string> stages = {"partial_rope", "final"};
  if (opt.score_original) stages.insert(stages.begin(), "original");
  if (stock) stages.push_back("final_native");
  std::map<std::string, std::vector<ActivationStream>> evals;  // stage -> one per eval set
  for (const auto& stage : stages)
    for (const auto& [name, ids] : data.eval) {
      evals[stage].push_back(ctx.stream(ids));
      evals[stage].back().embed(embed);
    }
  out("model.embed_tokens.weight", embed.to(opt.dtype));
  if (opt.partial) opt.partial("model.embed_tokens.weight", embed.to(opt.dtype));
  t["load_s"] += since(t0);

  nlohmann::ordered_json layers = nlohmann::ordered_json::array();
  nlohmann::ordered_json warnings = nlohmann::ordered_json::array();
  Progress bar("converting", L, "layers", opt.progress);
  for (int64_t l = 0; l < L; ++l) {
    t0 = Clock::now();
    DecoderLayer gqa = ctx.gqa_layer(l);
    GqaAttentionImpl& ga = gqa_attention(*gqa);
    t["load_s"] += since(t0);
    // Pass A on the original model -> RoRoPE + FreqFold rotation (§3.2).
    t0 = Clock::now();
    torch::Tensor gram = grams.empty() ? key_gram(*calib_orig, *gqa, c) : grams[l];
    const int64_t d_r = plan.rope_dims[l], r = plan.kv_lora_ranks[l];
    Rotation rot = rorope_rotation(gram, G, D, d_r, plan.freqfold[l]);
    DecoderLayer step1 = mla_layer(step1_cfg, l, *gqa, mla_attention_tensors(ga, rot.p, d_r, {}), ctx);
    t["pass_a_s"] += since(t0);
    // Pass B on the step-1 model: Grams of [k, v] (§3.3–3.4), of the queries per KV group
    // (whitened factorization) and of W_q x (§3.5).
    t0 = Clock::now();
    KvStats stats;
    torch::Tensor q_gram;
    calib_step1.observe(*gqa, [&](const torch::Tensor& x) {
      stats.add(ga, x, fit.needs_queries());
      if (plan.q_lora_rank) {
        torch::Tensor q = torch::nn::functional::linear(x, ga.q_proj->weight)
                              .reshape({-1, ga.heads * D}).to(torch::kDouble);
        torch::Tensor gq = q.t().mm(q);
        q_gram = q_gram.defined() ? q_gram + gq : gq;
      }
    });
    t["pass_b_s"] += since(t0);
    t0 = Clock::now();
    LatentFactors fac = factorize(stats.on(torch::kCPU), rot.p, ga, d_r, r, plan.balance,
                                  fit.factorization);
    LayerExport what{&fac, {}, /*biases=*/true};
    if (plan.q_lora_rank) what.q_basis = pca_basis(q_gram.cpu(), *plan.q_lora_rank);
    std::map<std::string, torch::Tensor> attn = mla_attention_tensors(ga, rot.p, d_r, what);
    nlohmann::ordered_json row = {{"layer", l}, {"freqfold", plan.freqfold[l]},
                                  {"qk_rope_head_dim", d_r}, {"kv_lora_rank", r},
                                  {"alpha", fac.alpha}, {"rope_energy_kept", rot.rope_energy},
                                  {"pca_energy_kept", fac.energy_kept},
                                  {"key_error", fac.key_error}, {"value_error", fac.value_error}};
    std::vector<std::string> notes = fac.warnings;
    t["pca_s"] += since(t0);
    if (fit.needs_data()) {
      t0 = Clock::now();
      ActivationStream& fit_in = calib_conv ? *calib_conv : *calib_orig;
      row["fit"] = fit_layer(attn, native_cfg, l, *gqa, *calib_orig, fit_in, fit);
      for (const auto& w : row["fit"]["warnings"]) notes.push_back(w.get<std::string>());
      t["fit_s"] += since(t0);
    }
    t0 = Clock::now();
    for (const auto& w : notes) {
      std::fprintf(stderr, "warning: layer %lld: %s\n", static_cast<long long>(l), w.c_str());
      warnings.push_back("layer " + std::to_string(l) + ": " + w);
    }
    DecoderLayer nat{nullptr};
    if (stock) {
      // The exact native export (biases, no norms) is scored beside the stock one; stock drops
      // every bias (§2.4) and adds latent norms.
      nat = mla_layer(native_cfg, l, *gqa, attn, ctx);
      for (const char* b : {"q_proj.bias", "q_b_proj.bias", "kv_a_proj_with_mqa.bias"}) attn.erase(b);
    }
    if (norm) {
      torch::Tensor kva = attn.at("kv_a_proj_with_mqa.weight").narrow(0, 0, r);
      torch::Tensor kvb = attn.count("kv_a_proj_with_mqa.bias")
                              ? attn.at("kv_a_proj_with_mqa.bias").narrow(0, 0, r) : torch::Tensor();
      const double gc = mean_rms(calib_step1, *gqa, kva, kvb);
      attn["kv_a_layernorm.weight"] = torch::full({r}, gc, torch::kDouble);
      row["latent_norm_gamma"] = gc;
      if (plan.q_lora_rank) {
        const double gq = mean_rms(calib_step1, *gqa, attn.at("q_a_proj.weight"), {});
        attn["q_a_layernorm.weight"] = torch::full({*plan.q_lora_rank}, gq, torch::kDouble);
        row["q_latent_norm_gamma"] = gq;
      }
    }
    if (padded)
      attn = pad_attention(attn, c, r, d_r, final_cfg.mla_layers[l].kv_lora_rank,
                           final_cfg.mla_layers[l].qk_rope_head_dim);
    DecoderLayer fin = mla_layer(final_cfg, l, *gqa, attn, ctx);
    layers.push_back(row);
    t["pca_s"] += since(t0);
    t0 = Clock::now();
    emit(out, l, *fin);
    emit(opt.partial, l, *step1);
    t["write_s"] += since(t0);
    // Advance every stream through its own version of layer l.
    t0 = Clock::now();
    if (calib_orig && l + 1 < L) calib_orig->advance(*gqa);
    if (calib_conv && l + 1 < L) calib_conv->advance(*fin);
    if (l + 1 < L) calib_step1.advance(*step1);
    t["advance_calib_s"] += since(t0);
    t0 = Clock::now();
    for (auto& s : evals["original"]) s.advance(*gqa);
    for (auto& s : evals["partial_rope"]) s.advance(*step1);
    for (auto& s : evals["final"]) s.advance(*fin);
    for (auto& s : evals["final_native"]) s.advance(*nat);
    t["eval_s"] += since(t0);
    src.release();
    bar.add(1);
  }
  bar.finish();
  t0 = Clock::now();
  HeadWeights head = head_weights(ctx);
  out("model.norm.weight", head.norm->weight);
  if (!c.tie_word_embeddings) out("lm_head.weight", head.head);
  if (opt.partial) {
    opt.partial("model.norm.weight", head.norm->weight);
    if (!c.tie_word_embeddings) opt.partial("lm_head.weight", head.head);
  }
  for (const auto& stage : stages) {
    rep["ppl"][stage] = nlohmann::ordered_json::object();
    for (size_t i = 0; i < data.eval.size(); ++i)
      rep["ppl"][stage][data.eval[i].first] = ppl_of(evals[stage][i], head);
  }
  t["eval_s"] += since(t0);
  nlohmann::ordered_json sweep = meter.finish();
  for (const auto& [k, v] : t) sweep["breakdown"][k] = v;
  phases["convert"] = sweep;
  rep["plan"] = {{"target", target_name(plan.target)}, {"kv_lora_rank", plan.kv_lora_ranks},
                 {"qk_rope_head_dim", plan.rope_dims}, {"freqfold", plan.freqfold},
                 {"latent_norm", norm}};
  if (plan.q_lora_rank) rep["plan"]["q_lora_rank"] = *plan.q_lora_rank;
  rep["kv_elements_per_token"] = {{"before", c.kv_elements_per_token()},
                                  {"after", final_cfg.kv_elements_per_token()}};
  rep["kv_bytes_per_token_bf16"] = {{"before", c.kv_bytes_per_token_bf16()},
                                    {"after", final_cfg.kv_bytes_per_token_bf16()}};
  if (padded) {  // what the plan itself caches, before padding to the widest layer
    rep["kv_elements_per_token"]["unpadded"] = native_cfg.kv_elements_per_token();
    rep["kv_bytes_per_token_bf16"]["unpadded"] = native_cfg.kv_bytes_per_token_bf16();
  }
  rep["fit"] = {{"factorization", factorization_name(fit.factorization)}, {"refit", fit.refit},
                {"local_steps", fit.local_steps}};
  if (fit.needs_data()) rep["fit"]["inputs"] = fit_inputs_name(fit.inputs);
  if (fit.local_steps > 0) rep["fit"]["local_lr"] = fit.local_lr;
  rep["warnings"] = warnings;
  rep["layers"] = layers;
  rep["phases"] = phases;
  return rep;
}

}  // namespace yz
