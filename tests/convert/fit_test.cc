// Issue 17 fits (layer_fit.h), float64 on tiny random models: every option reproduces the model
// exactly where no approximation is made (full rank; one KV head with RoPE on every channel, so
// step 1 is the original); the whitened factorization is optimal for its own objective; each
// refit stage equals a direct least-squares solve of the same problem; ill-conditioned Grams are
// regularised with a warning and never give NaN; distillation lowers the attention error; bad
// input fails by name.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "convert/converter.h"
#include "convert/refit.h"
#include "model/hf_names.h"
#include "convert_test_util.h"
#include "test_util.h"
#include "util/error.h"
#include "util/json_file.h"
#include "util/safetensors.h"
#include "util/safetensors_writer.h"
#include "util/tensor.h"

namespace yz {
namespace {

using test::tiny;
using test::logits;
using test::max_diff;

FitOptions fit_of(Factorization f, bool refit, int64_t steps, FitInputs in = FitInputs::kOriginal) {
  FitOptions o;
  o.factorization = f;
  o.refit = refit;
  o.local_steps = steps;
  o.inputs = in;
  return o;
}

const std::vector<FitOptions>& every_option() {
  static const std::vector<FitOptions> all = {
      fit_of(Factorization::kWhitened, false, 0), fit_of(Factorization::kBalancedPca, true, 0),
      fit_of(Factorization::kWhitened, true, 0), fit_of(Factorization::kWhitened, false, 12),
      fit_of(Factorization::kWhitened, true, 12, FitInputs::kConverted)};
  return all;
}

TEST(Fit, EveryOptionIsExactWhereTheConversionIsExact) {
  // One KV head, d_r = D, f = 1, r = max: step 1 is the original model, so refits and
  // distillation (whose targets are the original layer) must leave it where it is.
  CausalLm gqa = load_causal_lm(tiny("mistral"), {torch::kCPU, torch::kDouble});
  const nlohmann::json cfg = read_json_file(tiny("mistral") / "config.json");
  torch::manual_seed(3);
  ConversionData data{torch::randint(0, 256, {8, 24}, torch::kLong), {}, {}};
  torch::Tensor ids = torch::randint(0, 256, {2, 20}, torch::kLong);
  for (const FitOptions& o : every_option()) {
    ConversionResult r = convert_module(gqa, cfg, {16, 16, {1}, 1.0}, data, o);
    EXPECT_LT(max_diff(logits(r.final, ids), logits(gqa, ids)), 1e-9) << o.key();
  }
}

TEST(Fit, WhitenedFullRankReproducesStepOne) {
  FitOptions o = fit_of(Factorization::kWhitened, false, 0);
  for (auto [name, d_r, f] : {std::tuple<const char*, int64_t, int64_t>{"qwen25", 4, 2},
                              {"llama31", 8, 4}, {"qwen2_hd48", 24, 6}}) {
    CausalLm gqa = load_causal_lm(tiny(name), {torch::kCPU, torch::kDouble});
    torch::manual_seed(3);
    ConversionData data{torch::randint(0, 256, {16, 24}, torch::kLong), {}, {}};
    const int64_t rmax = max_kv_lora_rank(gqa->config, d_r);
    ConversionResult r = convert_module(gqa, read_json_file(tiny(name) / "config.json"),
                                        {d_r, rmax, {f}, 1.0}, data, o);
    torch::Tensor ids = torch::randint(0, 256, {2, 20}, torch::kLong);
    torch::Tensor step1 = logits(r.partial, ids);
    EXPECT_LT(max_diff(logits(r.final, ids), step1), 1e-9) << name;
    r.final->set_mla_path(MlaPath::kAbsorbed);
    EXPECT_LT(max_diff(logits(r.final, ids), step1), 1e-9) << name << " absorbed";
    EXPECT_EQ(r.report["fit"]["factorization"], "whitened");
  }
}

// tr(S (I − up·down) Σ (I − up·down)ᵀ S): the whitened objective of a factorization.
double weighted_error(const LatentFactors& f, const torch::Tensor& gram, const torch::Tensor& s) {
  torch::Tensor e = torch::eye(gram.size(0), gram.options()) - f.up.mm(f.down);
  return s.mm(e).mm(gram).mm(e.t()).mm(s).trace().item<double>();
}

TEST(Fit, WhitenedPcaIsOptimalForItsObjective) {
  // Eckart–Young in the whitened metric: no rank-r factorization (BKV's included) has a smaller
  // weighted error, and the weighted error equals the discarded eigenvalues.
  torch::manual_seed(9);
  const int64_t G = 2, D = 8, d_r = 4, GD = G * D, nk = GD - d_r, n = nk + GD, H = 4, hidden = 12;
  torch::Tensor z = torch::randn({300, n}, torch::kDouble).mm(torch::randn({n, n}, torch::kDouble));
  torch::Tensor gram = z.t().mm(z);
  torch::Tensor q = torch::randn({G, D, 5}, torch::kDouble);
  torch::Tensor q_grams = torch::einsum("jdk,jek->jde", {q, q}) + 0.1 * torch::eye(D, torch::kDouble);
  torch::Tensor p = std::get<0>(torch::linalg_qr(torch::randn({GD, GD}, torch::kDouble)));
  OutputMetric m = output_metric(q_grams, p, d_r, torch::randn({hidden, H * D}, torch::kDouble), H);
  for (int64_t rank : {3, 9, 20}) {
    LatentFactors w = whitened_pca(gram, m, GD, d_r, rank, 1.0);
    EXPECT_TRUE(w.warnings.empty());
    // The metric S with the balance the factorization chose.
    auto root = [](const torch::Tensor& a) {
      auto [v, u] = torch::linalg_eigh(a, "L");
      return u.mm(torch::diag(v.sqrt())).mm(u.t());
    };
    torch::Tensor s = torch::zeros({n, n}, torch::kDouble);
    s.narrow(0, 0, nk).narrow(1, 0, nk).copy_(root(m.key) / w.alpha);
    s.narrow(0, nk, GD).narrow(1, nk, GD).copy_(root(m.value));
    torch::Tensor ev = std::get<0>(torch::linalg_eigh(s.mm(gram).mm(s), "L")).flip(0);
    const double want = ev.narrow(0, rank, n - rank).sum().item<double>();
    const double got = weighted_error(w, gram, s);
    EXPECT_NEAR(got, want, 1e-8 * want) << "rank " << rank;
    LatentFactors b = balanced_kv_pca(gram, GD, d_r, rank, 1.0);
    EXPECT_GT(weighted_error(b, gram, s), got * (1 + 1e-9)) << "rank " << rank;
  }
}

TEST(Fit, IllConditionedGramsAreRegularisedWithAWarning) {
  torch::manual_seed(4);
  // Data in a 3-dimensional subspace of 6: the Gram is singular.
  torch::Tensor x = torch::randn({50, 3}, torch::kDouble).mm(torch::randn({3, 6}, torch::kDouble));
  torch::Tensor y = torch::randn({50, 2}, torch::kDouble);
  std::vector<std::string> warnings;
  torch::Tensor w = ridge_solve(x.t().mm(x), y.t().mm(x), torch::zeros({2, 6}, torch::kDouble), 0.0,
                                "test block", warnings);
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_NE(warnings[0].find("test block: ill-conditioned Gram"), std::string::npos) << warnings[0];
  EXPECT_TRUE(torch::isfinite(w).all().item<bool>());
  // A zero Gram keeps the prior, with a warning.
  warnings.clear();
  torch::Tensor prior = torch::randn({2, 6}, torch::kDouble);
  EXPECT_TRUE(torch::equal(ridge_solve(torch::zeros({6, 6}, torch::kDouble),
                                       torch::zeros({2, 6}, torch::kDouble), prior, 1e-6, "empty",
                                       warnings), prior));
  EXPECT_EQ(warnings.size(), 1u);
  // A singular query metric in the whitened factorization: floored, finite, reported.
  const int64_t G = 1, D = 8, d_r = 4;
  torch::Tensor z = torch::randn({100, 2 * D - d_r}, torch::kDouble);
  torch::Tensor q = torch::randn({100, D}, torch::kDouble);
  q.narrow(1, 0, 3).zero_();  // three query directions never used
  OutputMetric m = output_metric(q.t().mm(q).unsqueeze(0), torch::eye(D, torch::kDouble), d_r,
                                 torch::randn({5, D}, torch::kDouble), 1);
  LatentFactors f = whitened_pca(z.t().mm(z), m, G * D, d_r, 6, 1.0);
  ASSERT_FALSE(f.warnings.empty());
  EXPECT_NE(f.warnings[0].find("ill-conditioned"), std::string::npos) << f.warnings[0];
  EXPECT_TRUE(torch::isfinite(f.up).all().item<bool>() && torch::isfinite(f.down).all().item<bool>());
}

// One converted layer of the qwen25 tiny model (biases, G = 2, D = 8) with its streams.
struct LayerCase {
  CausalLm gqa{nullptr};
  ModelConfig mla;
  std::map<std::string, torch::Tensor> attn;
  std::unique_ptr<ActivationStream> orig, conv;
};
LayerCase layer_case() {
  LayerCase c;
  c.gqa = load_causal_lm(tiny("qwen25"), {torch::kCPU, torch::kDouble});
  const ModelConfig& g = c.gqa->config;
  const MlaPlan plan{4, 6, {2}, 1.0};
  c.mla = parse_config(mla_config_json(read_json_file(tiny("qwen25") / "config.json"), g, plan));
  torch::manual_seed(8);
  torch::Tensor ids = torch::randint(0, 256, {6, 16}, torch::kLong);
  torch::Tensor embed = c.gqa->model->embed_tokens->weight.detach();
  auto stream = [&](const torch::Tensor& e) {
    auto s = std::make_unique<ActivationStream>(ids, g.rope, g.max_position_embeddings,
                                                std::vector<int64_t>{g.head_dim, 4}, torch::kCPU,
                                                torch::kDouble);
    s->embed(e);
    return s;
  };
  c.orig = stream(embed);
  c.conv = stream(embed + 0.05 * torch::randn_like(embed));  // a drifted prefix
  auto& layer = *c.gqa->model->layers[0]->as<DecoderLayerImpl>();
  auto& a = gqa_attention(layer);
  KvStats st;
  c.orig->observe(layer, [&](const torch::Tensor& x) { st.add(a, x, true); });
  torch::Tensor keys = st.kv_gram.narrow(0, 0, g.num_key_value_heads * g.head_dim);
  // The rotation only needs to be orthogonal for this test: a random one.
  torch::Tensor p = std::get<0>(torch::linalg_qr(torch::randn({16, 16}, torch::kDouble)));
  LatentFactors f = factorize(st, p, a, 4, 6, 1.0, Factorization::kWhitened);
  c.attn = mla_attention_tensors(a, p, 4, {&f});
  return c;
}

// Ridge least squares through torch::linalg_lstsq on the augmented system [X; √λ I] Wᵀ =
// [Y; √λ W0ᵀ], λ = ridge · mean diag(XᵀX): the problem ridge_solve solves from Grams.
torch::Tensor direct(const torch::Tensor& x, const torch::Tensor& y, const torch::Tensor& w0, double ridge) {
  const double lambda = ridge * x.t().mm(x).diagonal().mean().item<double>();
  torch::Tensor a = torch::cat({x, std::sqrt(lambda) * torch::eye(x.size(1), x.options())}, 0);
  torch::Tensor b = torch::cat({y, std::sqrt(lambda) * w0.t()}, 0);
  return std::get<0>(torch::linalg_lstsq(a, b)).t();
}

TEST(Refit, EachStageEqualsADirectLeastSquaresSolve) {
  for (bool converted : {false, true}) {
    LayerCase c = layer_case();
    auto& layer = *c.gqa->model->layers[0]->as<DecoderLayerImpl>();
    auto& a = gqa_attention(layer);
    FitOptions o = fit_of(Factorization::kWhitened, true, 0);
    o.ridge = 1e-3;  // large enough that a missing or misplaced prior would show
    ActivationStream& fit_in = converted ? *c.conv : *c.orig;
    std::map<std::string, torch::Tensor> refit = c.attn;
    for (auto& [k, v] : refit) v = v.clone();
    nlohmann::ordered_json rep = refit_layer(refit, c.mla, 0, layer, *c.orig, fit_in, o);
    EXPECT_EQ(rep["steps"].size(), converted ? 3u : 2u);
    torch::NoGradGuard g;
    torch::Tensor all = torch::arange(6);
    torch::Tensor xo = c.orig->input(layer, all), xf = fit_in.input(layer, all);
    const ForwardContext& ctx = c.orig->context();
    std::map<std::string, torch::Tensor> stage = c.attn;  // the tensors each stage starts from
    if (converted) {
      // Stage 1: input projections (weights and bias columns) reproduce x_o's outputs on x_f.
      auto ones = [](const torch::Tensor& x) {
        torch::Tensor r = x.reshape({-1, x.size(-1)});
        return torch::cat({r, torch::ones({r.size(0), 1}, r.options())}, 1);
      };
      for (const char* n : {"q_proj", "kv_a_proj_with_mqa"}) {
        torch::Tensor wb = torch::cat({c.attn.at(std::string(n) + ".weight"),
                                       c.attn.at(std::string(n) + ".bias").unsqueeze(1)}, 1);
        torch::Tensor want = direct(ones(xf), ones(xo).mm(wb.t()), wb, o.ridge);
        torch::Tensor got = torch::cat({refit.at(std::string(n) + ".weight"),
                                        refit.at(std::string(n) + ".bias").unsqueeze(1)}, 1);
        EXPECT_LT(max_diff(got, want), 1e-8 * want.abs().max().item<double>()) << n;
        stage[std::string(n) + ".weight"] = refit.at(std::string(n) + ".weight");
        stage[std::string(n) + ".bias"] = refit.at(std::string(n) + ".bias");
      }
    }
    // Stage 2: per head, value rows from the attention-weighted latents to the original heads.
    auto conv = mla_attention_module(c.mla, 0, stage, torch::kCPU, torch::kDouble);
    torch::Tensor lat = conv->latent_outputs(xf, ctx), heads = a.head_outputs(xo, ctx);
    const int64_t H = a.heads, D = a.head_dim, r = conv->rank;
    for (int64_t h = 0; h < H; ++h) {
      torch::Tensor w0 = c.attn.at("kv_b_proj.weight").narrow(0, h * 2 * D + D, D);
      torch::Tensor want = direct(lat.select(1, h).reshape({-1, r}), heads.select(1, h).reshape({-1, D}),
                                  w0, o.ridge);
      torch::Tensor got = refit.at("kv_b_proj.weight").narrow(0, h * 2 * D + D, D);
      EXPECT_LT(max_diff(got, want), 1e-8 * want.abs().max().item<double>()) << "head " << h;
      // Key rows are the factorization's.
      EXPECT_TRUE(torch::equal(refit.at("kv_b_proj.weight").narrow(0, h * 2 * D, D),
                               c.attn.at("kv_b_proj.weight").narrow(0, h * 2 * D, D)));
    }
    // Stage 3: o_proj from the refitted heads to the original attention output.
    stage["kv_b_proj.weight"] = refit.at("kv_b_proj.weight");
    conv = mla_attention_module(c.mla, 0, stage, torch::kCPU, torch::kDouble);
    torch::Tensor o_heads = conv->head_outputs(xf, ctx).transpose(1, 2).reshape({-1, H * D});
    torch::Tensor y = a.forward(xo, ctx).reshape({o_heads.size(0), -1});
    torch::Tensor want = direct(o_heads, y, c.attn.at("o_proj.weight"), o.ridge);
    EXPECT_LT(max_diff(refit.at("o_proj.weight"), want), 1e-8 * want.abs().max().item<double>());
    // The refit lowers its objective: the attention-output error.
    auto err = [&](const std::map<std::string, torch::Tensor>& t) {
      return attention_error(*mla_attention_module(c.mla, 0, t, torch::kCPU, torch::kDouble),
                             layer, *c.orig, fit_in);
    };
    EXPECT_LT(err(refit), err(c.attn)) << (converted ? "converted" : "original") << " inputs";
  }
}

TEST(Fit, LocalStepsLowerTheAttentionError) {
  CausalLm gqa = load_causal_lm(tiny("qwen25"), {torch::kCPU, torch::kDouble});
  torch::manual_seed(5);
  ConversionData data{torch::randint(0, 256, {8, 24}, torch::kLong), {}, {}};
  ConversionResult r = convert_module(gqa, read_json_file(tiny("qwen25") / "config.json"),
                                      {4, 6, {2}, 1.0}, data, fit_of(Factorization::kWhitened, true, 40));
  for (const auto& row : r.report["layers"]) {
    const auto& f = row["fit"];
    EXPECT_LT(f["error_refit"].get<double>(), f["error_factorized"].get<double>());
    EXPECT_LT(f["error_local"].get<double>(), f["error_refit"].get<double>());
    EXPECT_LT(f["local"]["loss_last"].get<double>(), f["local"]["loss_first"].get<double>());
    EXPECT_GT(f["local"]["seconds"].get<double>(), 0.0);
  }
  EXPECT_EQ(r.report["fit"]["local_steps"], 40);
}

TEST(Fit, BadInputIsNamed) {
  CausalLm gqa = load_causal_lm(tiny("qwen25"), {torch::kCPU, torch::kDouble});
  const nlohmann::json cfg = read_json_file(tiny("qwen25") / "config.json");
  try {
    convert_module(gqa, cfg, {4, 6, {2}, 1.0}, {}, fit_of(Factorization::kWhitened, false, 10));
    FAIL() << "converted without calibration data";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("--local-steps needs calibration"), std::string::npos) << e.what();
  }
  // A checkpoint without one of the original attention tensors.
  test::TempDir dir;
  {
    ShardedWriter w(dir.path());
    for (const auto& item : gqa->named_parameters())
      if (item.key() != layer_prefix(1) + "self_attn.o_proj.weight")
        write_tensor(w, item.key(), item.value().to(torch::kFloat));
    w.finish();
  }
  for (const char* f : {"config.json", "tokenizer.json"})
    if (fs::exists(tiny("qwen25") / f)) fs::copy_file(tiny("qwen25") / f, dir / f);
  test::TempDir out;
  ConvertRequest req;
  req.model = dir.path();
  req.out = out / "mla";
  req.plan = {4, 6, {2}, 1.0};
  req.calib = {test::source_dir() / "data" / "demo" / "wikitext2_test_head.txt"};
  req.fit.local_steps = 5;
  req.progress = false;
  try {
    convert_model(req);
    FAIL() << "converted a checkpoint without o_proj";
  } catch (const Error& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("--local-steps"), std::string::npos) << m;
    EXPECT_NE(m.find("model.layers.1.self_attn.o_proj.weight"), std::string::npos) << m;
  }
  EXPECT_FALSE(fs::exists(out / "mla"));
}

}  // namespace
}  // namespace yz
