// GQA -> MLA exactness (mla_conversion.md §11) on tiny random models, fp64/fp32:
// the frequency map θ'_p = θ_{c·p}; the rotation is orthogonal; with one KV head, d_r = D and
// f = 1 every rotated channel keeps RoPE and the step-1 model reproduces the original logits;
// r = max reproduces the step-1 logits (α and the PCA basis cancel exactly); absorbed == explicit
// on converted models; bad plans fail with named errors.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "convert/converter.h"
#include "model/rope.h"
#include "convert_test_util.h"
#include "test_util.h"
#include "util/error.h"
#include "util/json_file.h"

namespace yz {
namespace {

using test::tiny;
using test::logits;
using test::max_diff;

struct Converted {
  CausalLm gqa{nullptr};
  ConversionResult result;
};

Converted convert_tiny(const std::string& name, MlaPlan plan, torch::ScalarType dtype = torch::kDouble) {
  Converted c;
  c.gqa = load_causal_lm(tiny(name), {torch::kCPU, dtype});
  torch::manual_seed(3);
  torch::Tensor calib = torch::randint(0, 256, {16, 24}, torch::kLong);
  c.result = convert_module(c.gqa, read_json_file(tiny(name) / "config.json"), plan, {calib});
  return c;
}

TEST(GqaToMla, FrequencyMapKeepsOriginalFrequencies) {
  for (const char* name : {"llama31", "qwen25"}) {
    ModelConfig c = load_config(tiny(name));
    const int64_t D = c.head_dim;
    RotaryTables full = rotary_tables(c.rope, D, c.max_position_embeddings);
    for (int64_t d_r : {D / 2, D / 4}) {
      RotaryTables part = rotary_tables(c.rope, d_r, c.max_position_embeddings);
      const int64_t cf = D / d_r;
      for (int64_t p = 0; p < d_r / 2; ++p)
        EXPECT_NEAR(part.inv_freq[p].item<double>(), full.inv_freq[cf * p].item<double>(),
                    1e-6 * full.inv_freq[cf * p].item<double>())
            << name << " d_r " << d_r << " p " << p;
    }
  }
}

TEST(GqaToMla, RotationIsOrthogonal) {
  torch::manual_seed(1);
  const int64_t G = 3, D = 16;
  torch::Tensor k = torch::randn({200, G * D}, torch::kDouble);
  torch::Tensor gram = complex_key_gram(k, G, D);
  for (auto [d_r, f] : {std::pair<int64_t, int64_t>{8, 2}, {8, 4}, {4, 8}, {16, 1}}) {
    Rotation r = rorope_rotation(gram, G, D, d_r, f);
    EXPECT_LT(max_diff(r.p.t().mm(r.p), torch::eye(G * D, torch::kDouble)), 1e-10);
    EXPECT_GT(r.rope_energy, 0.0);
    EXPECT_LE(r.rope_energy, 1.0 + 1e-12);
  }
}

// §11.1 step 0: with one KV head, the GQA layer as an MLA layer whose "rotation" only moves each
// neox pair (i, i + D/2) to the interleaved slots (2i, 2i + 1), d_r = D and no truncation.
// Step 0 (§3.1): the permutation from HF's half-split rotary layout to interleaved pairs.
torch::Tensor step_zero_rotation(int64_t D) {
  torch::Tensor p0 = torch::zeros({D, D}, torch::kDouble);
  for (int64_t i = 0; i < D / 2; ++i) {
    p0[i][2 * i] = 1;
    p0[i + D / 2][2 * i + 1] = 1;
  }
  return p0;
}

TEST(GqaToMla, StepZeroIdentityIsExact) {
  const fs::path dir = tiny("mistral");  // one KV head, D = 16
  CausalLm gqa = load_causal_lm(dir, {torch::kCPU, torch::kDouble});
  const ModelConfig& c = gqa->config;
  const int64_t D = c.head_dim;
  const torch::Tensor p0 = step_zero_rotation(D);
  MlaPlan plan{D, max_kv_lora_rank(c, D), std::vector<int64_t>(c.num_hidden_layers, 1), 1.0};
  std::map<std::string, torch::Tensor> tensors;
  for (const auto& item : gqa->named_parameters())
    if (item.key().find(".self_attn.") == std::string::npos) tensors[item.key()] = item.value();
  for (int64_t l = 0; l < c.num_hidden_layers; ++l) {
    auto& layer = *gqa->model->layers[l]->as<DecoderLayerImpl>();
    auto attn = mla_attention_tensors(*dynamic_cast<GqaAttentionImpl*>(layer.self_attn.get()),
                                      p0, D, {});
    for (const auto& [name, t] : attn) tensors["model.layers." + std::to_string(l) + ".self_attn." + name] = t;
  }
  CausalLm mla = model_from_tensors(mla_config_json(read_json_file(dir / "config.json"), c, plan), tensors);
  torch::Tensor ids = torch::randint(0, 256, {2, 20}, torch::kLong);
  EXPECT_LT(max_diff(logits(mla, ids), logits(gqa, ids)), 1e-9);
}

TEST(GqaToMla, ConvertedLayerSharesTheGqaMlp) {
  // build_mla_layer reuses the GQA layer's MLP and norms (a plan holds many built layers) and
  // takes the attention tensors given; a dtype change still copies.
  const fs::path dir = tiny("mistral");
  CausalLm gqa = load_causal_lm(dir, {torch::kCPU, torch::kDouble});
  const ModelConfig& c = gqa->config;
  const int64_t D = c.head_dim;
  MlaPlan plan{D, max_kv_lora_rank(c, D), std::vector<int64_t>(c.num_hidden_layers, 1), 1.0};
  const ModelConfig mla = parse_config(mla_config_json(read_json_file(dir / "config.json"), c, plan));
  auto& layer = *gqa->model->layers[1]->as<DecoderLayerImpl>();
  auto attn = mla_attention_tensors(*dynamic_cast<GqaAttentionImpl*>(layer.self_attn.get()),
                                    step_zero_rotation(D), D, {});
  DecoderLayer same = build_mla_layer(mla, 1, layer, attn, {torch::kCPU, torch::kDouble});
  EXPECT_EQ(same->mlp->up_proj->weight.data_ptr(), layer.mlp->up_proj->weight.data_ptr());
  EXPECT_EQ(same->input_layernorm->weight.data_ptr(), layer.input_layernorm->weight.data_ptr());
  for (const auto& item : same->named_parameters()) {
    if (item.key().rfind("self_attn.", 0) == 0) {
      EXPECT_TRUE(torch::equal(item.value(), attn.at(item.key().substr(10)))) << item.key();
    }
  }
  DecoderLayer narrow = build_mla_layer(mla, 1, layer, attn, {torch::kCPU, torch::kFloat});
  EXPECT_NE(narrow->mlp->up_proj->weight.data_ptr(), layer.mlp->up_proj->weight.data_ptr());
  EXPECT_EQ(narrow->mlp->up_proj->weight.scalar_type(), torch::kFloat);
}

// §11.2 for G > 1, in the latent form: with f = 1 and d_r = D, RoPE on every rotated channel
// (interleaved, θ_p per pair, on each D-block of the rotated key and lifted query) gives the
// original attention scores exactly: the per-frequency rotation across KV heads commutes with RoPE.
TEST(GqaToMla, RoRopeOnEveryRotatedChannelIsExact) {
  CausalLm gqa = load_causal_lm(tiny("qwen25"), {torch::kCPU, torch::kDouble});  // G = 2, g = 7
  const ModelConfig& c = gqa->config;
  const int64_t G = c.num_key_value_heads, D = c.head_dim, H = c.num_attention_heads, T = 12;
  auto& a = *dynamic_cast<GqaAttentionImpl*>(
      gqa->model->layers[0]->as<DecoderLayerImpl>()->self_attn.get());
  torch::manual_seed(5);
  torch::NoGradGuard g;
  torch::Tensor x = torch::randn({T, c.hidden_size}, torch::kDouble);
  torch::Tensor q = a.q_proj(x), k = a.k_proj(x);  // [T, H·D], [T, G·D] pre-RoPE, biases in
  Rotation rot = rorope_rotation(complex_key_gram(k, G, D), G, D, D, 1);
  auto [cos, sin] = rotary_cos_sin(rotary_tables(c.rope, D, c.max_position_embeddings),
                                   torch::arange(T), torch::kDouble);
  auto neox = [&](const torch::Tensor& t, int64_t n) {  // [T, n·D] -> [n, T, D] rotated
    return apply_rotary(t.view({1, T, n, D}).transpose(1, 2), cos, sin)[0];
  };
  auto inter = [&](const torch::Tensor& t) {  // [T, G·D] -> [G, T, D], every block rotated
    return apply_rotary_interleaved(t.view({1, T, G, D}).transpose(1, 2), cos, sin)[0];
  };
  torch::Tensor qr = neox(q, H), kr = neox(k, G);
  torch::Tensor k2 = inter(k.mm(rot.p));  // rotated keys Pᵀk, as rows
  for (int64_t h = 0; h < H; ++h) {
    const int64_t j = h / (H / G);
    torch::Tensor want = qr[h].mm(kr[j].t());
    // Lifted query q̃_h = (K_up,h P)ᵀ q_h = rows of P of KV head j.
    torch::Tensor q2 = inter(q.narrow(1, h * D, D).mm(rot.p.narrow(0, j * D, D)));
    torch::Tensor got = torch::zeros({T, T}, torch::kDouble);
    for (int64_t b = 0; b < G; ++b) got = got + q2[b].mm(k2[b].t());
    EXPECT_LT(max_diff(got, want), 1e-10) << "head " << h;
  }
}

TEST(GqaToMla, OneKvHeadAllChannelsRotatedIsExact) {
  // mistral tiny: one KV head, D = 16. d_r = D, f = 1: every rotated channel keeps RoPE.
  Converted c = convert_tiny("mistral", {16, 2 * 16 - 16, {1}, 1.0});
  torch::Tensor ids = torch::randint(0, 256, {2, 20}, torch::kLong);
  EXPECT_LT(max_diff(logits(c.result.partial, ids), logits(c.gqa, ids)), 1e-9);
  EXPECT_LT(max_diff(logits(c.result.final, ids), logits(c.gqa, ids)), 1e-9);
}

TEST(GqaToMla, FullRankReproducesStepOne) {
  // qwen25 tiny: q/k/v biases, group 7, D = 8; llama31: llama3 rope scaling, group 2, D = 16.
  for (auto [name, d_r, f] : {std::tuple<const char*, int64_t, int64_t>{"qwen25", 4, 2},
                              {"qwen25", 4, 4}, {"llama31", 8, 4}, {"qwen2_hd48", 24, 6}}) {
    ModelConfig cfg = load_config(tiny(name));
    const int64_t rmax = max_kv_lora_rank(cfg, d_r);
    Converted c = convert_tiny(name, {d_r, rmax, {f}, 1.0});
    torch::Tensor ids = torch::randint(0, 256, {2, 20}, torch::kLong);
    torch::Tensor step1 = logits(c.result.partial, ids);
    EXPECT_LT(max_diff(logits(c.result.final, ids), step1), 1e-9) << name << " f " << f;
    EXPECT_GT(c.result.report["layers"][0]["alpha"].get<double>(), 0.0);
    // Partial RoPE is an approximation: the logits move, but stay finite.
    EXPECT_TRUE(torch::isfinite(step1).all().item<bool>());
    c.result.final->set_mla_path(MlaPath::kAbsorbed);
    EXPECT_LT(max_diff(logits(c.result.final, ids), step1), 1e-9) << name << " absorbed";
  }
}

// Random Qwen2-style models (q/k/v biases) with group sizes g = 1, 3 and 4.
TEST(GqaToMla, FullRankExactForGroupSizes134) {
  for (auto [heads, kv_heads] : {std::pair<int64_t, int64_t>{4, 4}, {6, 2}, {8, 2}}) {
    nlohmann::json j = {{"model_type", "qwen2"}, {"vocab_size", 64}, {"hidden_size", heads * 8},
                        {"intermediate_size", 48}, {"num_hidden_layers", 2},
                        {"num_attention_heads", heads}, {"num_key_value_heads", kv_heads},
                        {"rope_theta", 10000.0}, {"max_position_embeddings", 64},
                        {"tie_word_embeddings", false}, {"torch_dtype", "float64"}};
    CausalLm gqa(parse_config(j));
    torch::manual_seed(11);
    {
      torch::NoGradGuard g;
      for (auto& p : gqa->parameters()) p.set_data(torch::randn_like(p).to(torch::kDouble) * 0.3);
    }
    gqa->eval();
    torch::Tensor calib = torch::randint(0, 64, {8, 16}, torch::kLong);
    const int64_t rmax = max_kv_lora_rank(gqa->config, 4);
    ConversionResult r = convert_module(gqa, j, {4, rmax, {2}, 1.0}, {calib});
    torch::Tensor ids = torch::randint(0, 64, {2, 12}, torch::kLong);
    EXPECT_LT(max_diff(logits(r.final, ids), logits(r.partial, ids)), 1e-9)
        << "g = " << heads / kv_heads;
  }
}

TEST(GqaToMla, TruncationShrinksTheCacheAndReportsErrors) {
  ModelConfig cfg = load_config(tiny("qwen25"));  // G = 2, D = 8: GQA caches 32 per layer
  Converted c = convert_tiny("qwen25", {4, 12, {2}, 1.0}, torch::kFloat);
  const auto& rep = c.result.report;
  EXPECT_EQ(rep["kv_elements_per_token"]["before"].get<int64_t>(), cfg.kv_elements_per_token());
  EXPECT_EQ(rep["kv_elements_per_token"]["after"].get<int64_t>(), 3 * (12 + 4));
  // Every layer has its own statistics.
  EXPECT_NE(rep["layers"][0]["alpha"].get<double>(), rep["layers"][1]["alpha"].get<double>());
  EXPECT_NE(rep["layers"][0]["rope_energy_kept"].get<double>(),
            rep["layers"][1]["rope_energy_kept"].get<double>());
  for (const auto& l : rep["layers"]) {
    EXPECT_GT(l["pca_energy_kept"].get<double>(), 0.0);
    EXPECT_LT(l["pca_energy_kept"].get<double>(), 1.0);
    EXPECT_GT(l["key_error"].get<double>() + l["value_error"].get<double>(), 0.0);
  }
}

TEST(GqaToMla, BadPlansAreNamed) {
  ModelConfig cfg = load_config(tiny("llama31"));  // D = 16
  auto expect = [&](MlaPlan p, const std::string& needle) {
    p = per_layer_plan(p, cfg.num_hidden_layers);
    try {
      validate_plan(cfg, p);
      FAIL() << "accepted " << needle;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  expect({6, 8, {2}, 1.0}, "--rope-dim 6");
  expect({8, 8, {3}, 1.0}, "--freqfold 3");
  expect({8, 8, {16}, 1.0}, "--freqfold 16");
  expect({8, 57, {2}, 1.0}, "--kv-lora-rank 57");
  expect({8, 0, {2}, 1.0}, "--kv-lora-rank 0");
  MlaPlan q = {8, 8, {2}, 1.0};
  q.q_lora_rank = 0;
  expect(q, "--q-lora-rank 0");
  q.q_lora_rank = 4 * 16 + 1;  // heads x head_dim = 64 for this model
  expect(q, "--q-lora-rank 65");
  EXPECT_THROW(parse_target("vllm"), Error);
  ModelConfig q3 = cfg;
  q3.qk_norm = true;
  q3.model_type = "qwen3";
  EXPECT_THROW(validate_plan(q3, {8, 8, std::vector<int64_t>(2, 2), 1.0}), Error);
}

}  // namespace
}  // namespace yz
