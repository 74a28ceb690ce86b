// Layer-adaptive planning (see planner.h): profiles, knapsack, refinement.
#include "convert/planner.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <functional>
#include <map>
#include <numeric>
#include <optional>
#include <sstream>

#include "convert/activations.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/json_file.h"
#include "util/progress.h"

namespace yz {

const char* adaptive_mode_name(AdaptiveMode m) { return m == AdaptiveMode::kFold ? "fold" : "budget"; }

AdaptiveMode parse_adaptive_mode(const std::string& name) {
  if (name == "fold") return AdaptiveMode::kFold;
  if (name == "budget") return AdaptiveMode::kBudget;
  YZ_THROW(ErrorKind::kUsage, "--adaptive must be fold or budget, not '", name, "'");
}

std::vector<LayerChoice> fold_choices(const ModelConfig& c, int64_t d_r, int64_t r) {
  std::vector<LayerChoice> out;
  for (int64_t f : freqfold_choices(c, d_r)) out.push_back({d_r, r, f});
  return out;
}

std::vector<size_t> knapsack(const std::vector<std::vector<LayerChoice>>& choices,
                             const std::vector<std::vector<double>>& loss, int64_t budget) {
  int64_t unit = 0;
  for (const auto& layer : choices)
    for (const auto& ch : layer) unit = std::gcd(unit, ch.cost());
  YZ_ASSERT(unit > 0, "knapsack without choices");
  const int64_t cap = budget / unit, L = static_cast<int64_t>(choices.size());
  constexpr double kInf = 1e300;
  // best[l][b]: least loss of layers < l at exactly b units; pick[l][b]: choice of layer l − 1.
  std::vector<std::vector<double>> best(L + 1, std::vector<double>(cap + 1, kInf));
  std::vector<std::vector<int64_t>> pick(L + 1, std::vector<int64_t>(cap + 1, -1));
  best[0][0] = 0;
  for (int64_t l = 0; l < L; ++l)
    for (int64_t b = 0; b <= cap; ++b) {
      if (best[l][b] >= kInf) continue;
      for (size_t k = 0; k < choices[l].size(); ++k) {
        const int64_t nb = b + choices[l][k].cost() / unit;
        if (nb > cap) continue;
        const double v = best[l][b] + loss[l][k];
        if (v < best[l + 1][nb]) best[l + 1][nb] = v, pick[l + 1][nb] = static_cast<int64_t>(k);
      }
    }
  int64_t end = -1;
  for (int64_t b = 0; b <= cap; ++b)
    if (best[L][b] < kInf && (end < 0 || best[L][b] < best[L][end])) end = b;
  YZ_CHECK(end >= 0, "the KV budget of ", budget, " elements per token is below the cheapest plan");
  std::vector<size_t> out(L);
  for (int64_t l = L; l > 0; --l) {
    const size_t k = static_cast<size_t>(pick[l][end]);
    out[l - 1] = k;
    end -= choices[l - 1][k].cost() / unit;
  }
  return out;
}

namespace {

using Clock = std::chrono::steady_clock;

// Calibration tokens whose per-layer inputs the planner keeps for refits and distillation
// (all of the §13 protocol's 128 × 256; 16 windows of 2048 tokens for a 7B plan, 6.6 GB in bf16).
constexpr int64_t kPlanFitTokens = 32768;

std::string choice_key(const LayerChoice& c) {
  return std::to_string(c.rope_dim) + "/" + std::to_string(c.kv_lora_rank) + "/" +
         std::to_string(c.freqfold);
}

std::string ids_hash(const torch::Tensor& ids) {
  torch::Tensor t = ids.to(torch::kCPU, torch::kLong).contiguous();
  const auto* p = reinterpret_cast<const char*>(t.data_ptr<int64_t>());
  std::ostringstream s;
  s << std::hex << std::hash<std::string>{}(std::string(p, p + t.numel() * 8)) << "x" << std::dec
    << t.size(0) << "x" << t.size(1);
  return s.str();
}

// A converted plan held ready for single-layer changes (the profile context, the refinement's
// current plan): its built layers and the selection states at every layer's input, so that a
// change rebuilds only the layers it touches and re-runs only from the first of them. Memory:
// one converted attention per layer (MLP weights are shared with the original) plus L selection
// states — about 3 GB for a Qwen2.5-7B shape in bfloat16 with 4k selection tokens.
struct PlanState {
  std::vector<LayerChoice> plan;
  std::vector<DecoderLayer> layers;
  std::vector<ActivationStream> inputs;  // [L]: input of layer l under `plan`
  double nll = 0;                        // selection NLL per token
};

class Planner {
 public:
  Planner(CausalLm& gqa, const nlohmann::json& config_json, const torch::Tensor& calib,
          const torch::Tensor& select, const PlanRequest& req)
      : gqa_(gqa), json_(config_json), c_(gqa->config), req_(req),
        device_(gqa->model->embed_tokens->weight.device()),
        dtype_(gqa->model->embed_tokens->weight.scalar_type()) {
    const int64_t D = c_.head_dim, L = c_.num_hidden_layers;
    std::vector<int64_t> dims = {D};
    for (int64_t d : {D / 4, D / 2}) if (d >= 2 && d % 2 == 0) dims.push_back(d);
    torch::Tensor embed = gqa->model->embed_tokens->weight;
    auto stream = [&](const torch::Tensor& ids) {
      ActivationStream s(ids, c_.rope, c_.max_position_embeddings, dims, device_, dtype_);
      s.embed(embed);
      return s;
    };
    // One pass of the original model over both sets: per-layer factorization statistics from
    // calibration, the original selection NLL, and (for refits / distillation) each layer's
    // original inputs on the first kPlanFitTokens of calibration.
    ActivationStream cal = stream(calib);
    ActivationStream sel = stream(select);
    sel0_ = sel.copy();
    std::optional<ActivationStream> fit_cal;
    if (req.fit.needs_data())
      fit_cal.emplace(stream(calib.narrow(0, 0, std::clamp<int64_t>(kPlanFitTokens / calib.size(1),
                                                                      1, calib.size(0)))));
    Progress bar("calibration Grams", L, "layers", req.progress);
    for (int64_t l = 0; l < L; ++l) {
      DecoderLayerImpl& layer = orig(l);
      KvStats st;
      cal.observe(layer, [&](const torch::Tensor& x) {
        st.add(gqa_attention(layer), x, req.fit.needs_queries());
      });
      stats_.push_back(st.on(torch::kCPU));
      if (fit_cal) {
        fit_inputs_.push_back(fit_cal->copy());
        fit_cal->advance(layer);
      }
      cal.advance(layer);
      sel.advance(layer);
      bar.add(1);
    }
    bar.finish();
    head_ = lm_head_weight();
    base_nll_ = sel.nll_sum(*gqa_->model->norm, head_);
    predictions_ = sel.predictions();
  }

  double base_nll() const { return base_nll_ / predictions_; }
  int64_t layer_passes() const { return layer_passes_; }
  int64_t layer_builds() const { return builds_; }
  double build_seconds() const { return build_s_; }

  // Profiles are measured against a converted plan, the context: ΔNLL when layer l alone
  // changes. The context is held (built layers, layer inputs) until drop_context().
  void set_context(PlanState ctx) { ctx_ = std::move(ctx); }
  void drop_context() { ctx_ = PlanState{}; }

  // ΔNLL per token when only layer l of the context is converted with `choice` instead.
  double single_layer_delta(int64_t l, const LayerChoice& choice) {
    YZ_ASSERT(!ctx_.layers.empty(), "profiles need a context plan");
    DecoderLayer conv = build(l, choice);
    ActivationStream s = ctx_.inputs[l].copy();
    s.advance(*conv);
    ++layer_passes_;
    for (int64_t m = l + 1; m < c_.num_hidden_layers; ++m, ++layer_passes_) s.advance(*ctx_.layers[m]);
    return s.nll_sum(*gqa_->model->norm, head_) / predictions_ - ctx_.nll;
  }

  // Builds `plan` (layers as in the profiles) and scores it from layer 0.
  PlanState start(const std::vector<LayerChoice>& plan) {
    PlanState st{plan, {}, {}, 0};
    ActivationStream s = sel0_->copy();
    for (int64_t l = 0; l < c_.num_hidden_layers; ++l) {
      st.inputs.push_back(s.copy());
      st.layers.push_back(build(l, plan[l]));
      s.advance(*st.layers.back());
      ++layer_passes_;
    }
    st.nll = s.nll_sum(*gqa_->model->norm, head_) / predictions_;
    return st;
  }

  // Scores `trial` on the full model and adopts it into `st` when the selection NLL falls.
  bool try_plan(PlanState& st, const std::vector<LayerChoice>& trial) {
    const int64_t L = c_.num_hidden_layers;
    int64_t from = 0;
    while (from < L && trial[from] == st.plan[from]) ++from;
    if (from == L) return false;
    std::vector<DecoderLayer> layers = st.layers;  // module handles: unchanged layers are shared
    for (int64_t l = from; l < L; ++l)
      if (!(trial[l] == st.plan[l])) layers[l] = build(l, trial[l]);
    std::vector<ActivationStream> inputs;  // inputs of layers from + 1 .. L − 1 under `trial`
    ActivationStream s = st.inputs[from].copy();
    for (int64_t l = from; l < L; ++l) {
      s.advance(*layers[l]);
      ++layer_passes_;
      if (l + 1 < L) inputs.push_back(s.copy());
    }
    const double nll = s.nll_sum(*gqa_->model->norm, head_) / predictions_;
    if (nll >= st.nll - 1e-9 * std::abs(st.nll)) return false;
    st.plan = trial;
    st.layers = std::move(layers);
    for (int64_t l = from + 1; l < L; ++l) st.inputs[l] = std::move(inputs[l - from - 1]);
    st.nll = nll;
    return true;
  }

 private:
  DecoderLayerImpl& orig(int64_t l) { return *gqa_->model->layers[l]->as<DecoderLayerImpl>(); }

  torch::Tensor lm_head_weight() const {
    return gqa_->lm_head ? gqa_->lm_head->weight : gqa_->model->embed_tokens->weight;
  }

  // Layer l converted with `choice` by the request's method, everything calibrated on the
  // original model's inputs to layer l (§7.2 step 3): the rotation from the key block of the
  // [k, v] Gram, the factorization from its rotation (factorization.h: joint_gram).
  DecoderLayer build(int64_t l, const LayerChoice& ch) {
    const auto t0 = Clock::now();
    ++builds_;
    const int64_t G = c_.num_key_value_heads, D = c_.head_dim, GD = G * D, d_r = ch.rope_dim;
    const torch::Tensor& g = stats_[l].kv_gram;
    std::vector<int64_t> re, im;
    for (int64_t j = 0; j < G; ++j)
      for (int64_t i = 0; i < D / 2; ++i) re.push_back(j * D + i), im.push_back(j * D + D / 2 + i);
    torch::Tensor ri = torch::tensor(re), ii = torch::tensor(im);
    torch::Tensor gk = g.narrow(0, 0, GD).narrow(1, 0, GD);
    torch::Tensor complex = gk.index_select(0, ri).index_select(1, ri) +
                            gk.index_select(0, ii).index_select(1, ii);
    Rotation rot = rorope_rotation(complex, G, D, d_r, ch.freqfold);
    GqaAttentionImpl& a = gqa_attention(orig(l));
    LatentFactors fac = factorize(stats_[l], rot.p, a, d_r, ch.kv_lora_rank, req_.balance,
                                  req_.fit.factorization);
    auto attn = mla_attention_tensors(a, rot.p, d_r, {&fac});
    if (req_.fit.needs_data()) {
      FitOptions fit = req_.fit;
      fit.inputs = FitInputs::kOriginal;  // profiles change one layer: original inputs
      fit_layer(attn, config_for(ch), l, orig(l), fit_inputs_[l], fit_inputs_[l], fit,
                /*measure=*/false);
    }
    DecoderLayer out = build_mla_layer(config_for(ch), l, orig(l), attn, {device_, dtype_});
    build_s_ += std::chrono::duration<double>(Clock::now() - t0).count();
    return out;
  }

  const ModelConfig& config_for(const LayerChoice& ch) {
    const std::string key = choice_key(ch);
    auto it = configs_.find(key);
    if (it == configs_.end()) {
      MlaPlan p{ch.rope_dim, ch.kv_lora_rank, {ch.freqfold}, req_.balance};
      it = configs_.emplace(key, parse_config(mla_config_json(json_, c_, p), "plan config")).first;
    }
    return it->second;
  }

  CausalLm& gqa_;
  const nlohmann::json& json_;
  const ModelConfig& c_;
  PlanRequest req_;
  torch::Device device_;
  torch::ScalarType dtype_;
  std::vector<KvStats> stats_;              // per layer, float64 on the host
  std::vector<ActivationStream> fit_inputs_;  // per layer: its original inputs (refit windows)
  std::optional<ActivationStream> sel0_;    // embedded selection tokens (input of layer 0)
  torch::Tensor head_;
  double base_nll_ = 0;
  int64_t predictions_ = 0, layer_passes_ = 0, builds_ = 0;
  double build_s_ = 0;  // wall time building converted layers (rotation, PCA, weights)
  std::map<std::string, ModelConfig> configs_;
  PlanState ctx_;  // profile context
};

int64_t round_to(double x, int64_t step) {
  return std::max<int64_t>(step, static_cast<int64_t>(std::llround(x / step)) * step);
}

struct Profiles {
  std::vector<std::vector<LayerChoice>> choices;  // per layer
  std::vector<std::vector<double>> delta;         // ΔNLL per token, same shape
};

nlohmann::ordered_json profiles_json(const Profiles& p) {
  nlohmann::ordered_json out = nlohmann::ordered_json::array();
  for (size_t l = 0; l < p.choices.size(); ++l) {
    nlohmann::ordered_json row = nlohmann::ordered_json::array();
    for (size_t k = 0; k < p.choices[l].size(); ++k) {
      const LayerChoice& c = p.choices[l][k];
      row.push_back({{"qk_rope_head_dim", c.rope_dim}, {"kv_lora_rank", c.kv_lora_rank},
                     {"freqfold", c.freqfold}, {"delta_nll", p.delta[l][k]}});
    }
    out.push_back(row);
  }
  return out;
}

Profiles profiles_from_json(const nlohmann::json& j) {
  Profiles p;
  for (const auto& row : j) {
    p.choices.emplace_back();
    p.delta.emplace_back();
    for (const auto& c : row) {
      p.choices.back().push_back({c["qk_rope_head_dim"].get<int64_t>(),
                                  c["kv_lora_rank"].get<int64_t>(), c["freqfold"].get<int64_t>()});
      p.delta.back().push_back(c["delta_nll"].get<double>());
    }
  }
  return p;
}

// Profiles every layer: fold mode all f at (d_r, r); budget mode, per d_r ∈ {D/4, D/2, D}, all f
// at the budget's rank, then a grid of r with that d_r's best f.
Profiles measure_profiles(Planner& planner, const ModelConfig& c, const PlanRequest& req,
                          int64_t d_r0) {
  const int64_t L = c.num_hidden_layers, D = c.head_dim, k = req.elements_per_layer;
  const int64_t step = k >= 64 ? 8 : 2;
  std::vector<int64_t> ropes = {d_r0};
  if (req.mode == AdaptiveMode::kBudget) {
    ropes.clear();
    for (int64_t d : {D / 4, D / 2, D})
      if (d >= 2 && d % 2 == 0 && D % d == 0 && d < k) ropes.push_back(d);
  }
  int64_t total = 0;
  for (int64_t d : ropes) total += static_cast<int64_t>(freqfold_choices(c, d).size()) + 4;
  Profiles p{std::vector<std::vector<LayerChoice>>(L), std::vector<std::vector<double>>(L)};
  Progress bar("sensitivity profiles", L * (req.mode == AdaptiveMode::kFold
                                              ? static_cast<int64_t>(freqfold_choices(c, d_r0).size())
                                              : total), "layer-choices", req.progress);
  for (int64_t l = 0; l < L; ++l) {
    auto add = [&](const LayerChoice& ch) {
      for (const auto& have : p.choices[l]) if (have == ch) return;
      p.choices[l].push_back(ch);
      p.delta[l].push_back(planner.single_layer_delta(l, ch));
      bar.add(1);
    };
    for (int64_t d : ropes) {
      const int64_t rmax = max_kv_lora_rank(c, d);
      const int64_t r_ref = std::clamp<int64_t>(k - d, 1, rmax);
      const size_t first = p.choices[l].size();
      for (int64_t f : freqfold_choices(c, d)) add({d, r_ref, f});
      if (req.mode == AdaptiveMode::kFold) continue;
      size_t best = first;
      for (size_t i = first; i < p.choices[l].size(); ++i)
        if (p.delta[l][i] < p.delta[l][best]) best = i;
      const int64_t f = p.choices[l][best].freqfold;
      for (double m : {0.5, 0.75, 1.25, 1.5}) {
        const int64_t r = std::min(rmax, round_to(m * k - d, step));
        if (r > 0) add({d, r, f});
      }
    }
  }
  bar.finish();
  return p;
}

// Pareto front of one layer's profile: choices by ascending cost with strictly falling ΔNLL.
std::vector<size_t> pareto(const std::vector<LayerChoice>& ch, const std::vector<double>& d) {
  std::vector<size_t> idx(ch.size());
  std::iota(idx.begin(), idx.end(), 0);
  std::sort(idx.begin(), idx.end(), [&](size_t a, size_t b) {
    return ch[a].cost() != ch[b].cost() ? ch[a].cost() < ch[b].cost() : d[a] < d[b];
  });
  std::vector<size_t> front;
  for (size_t i : idx)
    if (front.empty() || d[i] < d[front.back()]) front.push_back(i);
  return front;
}

nlohmann::ordered_json plan_json(const std::vector<LayerChoice>& plan) {
  nlohmann::ordered_json out = nlohmann::ordered_json::array();
  for (const auto& c : plan)
    out.push_back({{"qk_rope_head_dim", c.rope_dim}, {"kv_lora_rank", c.kv_lora_rank},
                   {"freqfold", c.freqfold}});
  return out;
}

}  // namespace

AdaptivePlan plan_adaptive(CausalLm& gqa, const nlohmann::json& config_json,
                           const torch::Tensor& calib, const torch::Tensor& select,
                           const PlanRequest& req) {
  const auto t0 = Clock::now();
  const ModelConfig& c = gqa->config;
  const int64_t L = c.num_hidden_layers, D = c.head_dim, k = req.elements_per_layer;
  const int64_t d_r0 = req.rope_dim > 0 ? req.rope_dim : D / 2;
  YZ_CHECK(k > d_r0 && k - d_r0 <= max_kv_lora_rank(c, d_r0), "a KV budget of ", k,
           " elements per layer needs d_r (", d_r0, ") < budget <= ", 2 * c.num_key_value_heads * D);
  {
    MlaPlan probe{d_r0, k - d_r0, {D / d_r0}, req.balance};
    validate_plan(c, per_layer_plan(probe, L));
  }
  Planner planner(gqa, config_json, calib, select, req);
  const auto since = [](Clock::time_point t) {
    return std::chrono::duration<double>(Clock::now() - t).count();
  };
  const double grams_s = since(t0);
  const auto t_profiles = Clock::now();
  // Profiles, from the cache when model, data and settings match.
  std::ostringstream key;
  key << req.cache_key << "|" << adaptive_mode_name(req.mode) << "|" << k << "|" << d_r0 << "|"
      << req.balance << "|" << req.fit.key() << "|uniform-context|" << ids_hash(calib) << "|" << ids_hash(select);
  std::ostringstream name;
  name << "profile-" << std::hex << std::hash<std::string>{}(key.str()) << ".json";
  const fs::path cache = req.profile_cache.empty() ? fs::path() : req.profile_cache / name.str();
  Profiles prof;
  bool cached = false;
  if (!cache.empty() && fs::is_regular_file(cache)) {
    nlohmann::json j = read_json_file(cache);
    if (j.value("key", std::string()) == key.str()) {
      prof = profiles_from_json(j["profiles"]);
      cached = true;
    }
  }
  const int64_t passes_before = planner.layer_passes();
  // Profiles are measured in the context of the best uniform plan (every layer at d_r0, the
  // budget rank and the fold with the lowest selection NLL): the plan the layers will end up
  // near, so that the knapsack's sum of single-layer changes tracks the converted model better
  // than changes measured against the original (at a third of the cache: R 0.48 → 0.59 on
  // wikitext-2, 0.32 → 0.37 on SEC filings for yz-qwen2-gqa-16m).
  nlohmann::ordered_json context;
  if (!cached) {
    double best = 1e300;
    int64_t best_f = 0;
    for (int64_t f : freqfold_choices(c, d_r0)) {
      PlanState st = planner.start(std::vector<LayerChoice>(L, LayerChoice{d_r0, k - d_r0, f}));
      if (st.nll < best) best = st.nll, best_f = f, planner.set_context(std::move(st));
    }
    context = {{"qk_rope_head_dim", d_r0}, {"kv_lora_rank", k - d_r0}, {"freqfold", best_f},
               {"selection_nll", best}};
    prof = measure_profiles(planner, c, req, d_r0);
    planner.drop_context();
    if (!cache.empty()) {
      fs::create_directories(req.profile_cache);
      nlohmann::ordered_json j = {{"key", key.str()}, {"profiles", profiles_json(prof)}};
      write_file_atomic(cache, j.dump() + "\n");
    }
  }
  const int64_t profile_passes = planner.layer_passes() - passes_before;
  const double profiles_s = since(t_profiles);

  // Initial plan from the profiles (additivity assumption).
  std::vector<size_t> idx(L);
  if (req.mode == AdaptiveMode::kFold) {
    for (int64_t l = 0; l < L; ++l)
      idx[l] = static_cast<size_t>(std::min_element(prof.delta[l].begin(), prof.delta[l].end()) -
                                   prof.delta[l].begin());
  } else {
    idx = knapsack(prof.choices, prof.delta, k * L);
  }
  std::vector<LayerChoice> initial(L);
  for (int64_t l = 0; l < L; ++l) initial[l] = prof.choices[l][idx[l]];
  auto spend_slack = [&](std::vector<LayerChoice>& plan) {
    // Budget plans: unused elements go to the ranks of the most sensitive layers.
    int64_t slack = k * L;
    for (const auto& ch : plan) slack -= ch.cost();
    std::vector<int64_t> order(L);
    std::iota(order.begin(), order.end(), 0);
    std::sort(order.begin(), order.end(), [&](int64_t a, int64_t b) {
      return *std::max_element(prof.delta[a].begin(), prof.delta[a].end()) >
             *std::max_element(prof.delta[b].begin(), prof.delta[b].end());
    });
    for (int64_t l : order) {
      const int64_t add = std::min(slack, max_kv_lora_rank(c, plan[l].rope_dim) - plan[l].kv_lora_rank);
      plan[l].kv_lora_rank += add;
      slack -= add;
    }
  };
  if (req.mode == AdaptiveMode::kBudget) spend_slack(initial);

  // Refinement on the fully converted model (interaction-aware), scored on the selection split.
  PlanState st = planner.start(initial);
  const std::vector<LayerChoice>& cur = st.plan;  // the plan refinement has accepted so far
  const double initial_nll = st.nll;
  int64_t trials = 0, accepted = 0;
  auto try_plan = [&](const std::vector<LayerChoice>& trial) {
    ++trials;
    if (!planner.try_plan(st, trial)) return false;
    ++accepted;
    return true;
  };
  std::vector<int64_t> order(L);
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](int64_t a, int64_t b) {
    auto range = [&](int64_t l) {
      auto [lo, hi] = std::minmax_element(prof.delta[l].begin(), prof.delta[l].end());
      return *hi - *lo;
    };
    return range(a) > range(b);
  });
  for (int sweep = 0; sweep < req.refine_sweeps; ++sweep) {
    const int64_t before = accepted;
    if (req.mode == AdaptiveMode::kFold) {
      // Coordinate descent (§7.2 step 5): each layer tries half and double its fold.
      for (int64_t l : order) {
        const auto folds = freqfold_choices(c, cur[l].rope_dim);
        for (int64_t f : {cur[l].freqfold / 2, cur[l].freqfold * 2}) {
          if (std::find(folds.begin(), folds.end(), f) == folds.end()) continue;
          std::vector<LayerChoice> trial = cur;
          trial[l].freqfold = f;
          if (try_plan(trial)) break;
        }
      }
    } else {
      // Budget-preserving exchanges (§7.3): layer i steps down its Pareto front, layer j up,
      // ranked by the profiles' predicted gain; the L best are scored on the full model.
      struct Move { int64_t i, j; size_t down, up; double gain; };
      std::vector<Move> moves;
      int64_t used = 0;
      for (const auto& ch : cur) used += ch.cost();
      auto nearest = [&](int64_t l) {  // profile entry standing for the current choice
        size_t best = 0;
        for (size_t q = 0; q < prof.choices[l].size(); ++q) {
          const auto& a = prof.choices[l][q];
          const auto& b = prof.choices[l][best];
          auto dist = [&](const LayerChoice& x) {
            return std::abs(x.cost() - cur[l].cost()) + (x.rope_dim == cur[l].rope_dim ? 0 : 1000000);
          };
          if (dist(a) < dist(b)) best = q;
        }
        return best;
      };
      for (int64_t i = 0; i < L; ++i) {
        const auto front_i = pareto(prof.choices[i], prof.delta[i]);
        const size_t ci = nearest(i);
        for (size_t down : front_i) {
          if (prof.choices[i][down].cost() >= cur[i].cost()) continue;
          for (int64_t j = 0; j < L; ++j) {
            if (j == i) continue;
            const size_t cj = nearest(j);
            for (size_t up : pareto(prof.choices[j], prof.delta[j])) {
              const int64_t after = used - cur[i].cost() - cur[j].cost() +
                                    prof.choices[i][down].cost() + prof.choices[j][up].cost();
              if (prof.choices[j][up].cost() <= cur[j].cost() || after > k * L) continue;
              const double gain = prof.delta[i][down] - prof.delta[i][ci] + prof.delta[j][up] -
                                  prof.delta[j][cj];
              moves.push_back({i, j, down, up, gain});
            }
          }
        }
      }
      std::sort(moves.begin(), moves.end(), [](const Move& a, const Move& b) { return a.gain < b.gain; });
      std::vector<bool> touched(L, false);
      int64_t tried = 0;
      for (const Move& m : moves) {
        if (tried >= L) break;
        if (touched[m.i] || touched[m.j]) continue;  // profiles of moved layers are stale
        ++tried;
        std::vector<LayerChoice> trial = cur;
        trial[m.i] = prof.choices[m.i][m.down];
        trial[m.j] = prof.choices[m.j][m.up];
        if (try_plan(trial)) touched[m.i] = touched[m.j] = true;
      }
    }
    if (accepted == before) break;
  }

  AdaptivePlan out;
  MlaPlan& p = out.plan;
  p.rope_dim = d_r0;
  p.kv_lora_rank = k - d_r0;
  p.balance = req.balance;
  for (const auto& ch : cur) {
    p.rope_dims.push_back(ch.rope_dim);
    p.kv_lora_ranks.push_back(ch.kv_lora_rank);
    p.freqfold.push_back(ch.freqfold);
  }
  int64_t elements = 0;
  for (const auto& ch : cur) elements += ch.cost();
  out.report = {{"mode", adaptive_mode_name(req.mode)},
                {"kv_elements_per_layer_budget", k},
                {"kv_elements_per_token", elements},
                {"selection_nll", {{"original", planner.base_nll()}, {"initial", initial_nll},
                                   {"refined", st.nll}}},
                {"profile_context", context},
                {"initial_plan", plan_json(initial)},
                {"plan", plan_json(cur)},
                {"refinement", {{"trials", trials}, {"accepted", accepted}}},
                {"profiles_cached", cached},
                {"cost", {{"selection_tokens", select.numel()},
                          {"calibration_tokens", calib.numel()},
                          {"profile_layer_passes", profile_passes},
                          {"layer_passes", planner.layer_passes()},
                          {"layer_builds", planner.layer_builds()},
                          {"layer_build_s", planner.build_seconds()},
                          {"full_forward_equivalent",
                           static_cast<double>(planner.layer_passes() + 2 * L) / L}}},
                {"wall_s", since(t0)},
                {"phase_s", {{"calibration_grams", grams_s}, {"profiles", profiles_s},
                             {"refinement", since(t0) - grams_s - profiles_s}}},
                {"profiles", profiles_json(prof)}};
  return out;
}

}  // namespace yz
