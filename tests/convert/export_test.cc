// Converter exports and the streamed pipeline (mla_conversion.md §2.4, §3.5, §4, §11): streamed
// perplexity equals the model's; a full-rank low-rank query is exact; `stock` differs from
// `native` only by the documented bias drop and the latent norms (γ = E[RMS] checked against
// an independent forward); --freqfold auto follows greedy doubling on the selection split;
// the selection split never shares a document with calibration.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <fstream>
#include <set>

#include "convert/converter.h"
#include "eval/perplexity.h"
#include "convert_test_util.h"
#include "test_util.h"
#include "util/error.h"
#include "util/json_file.h"

namespace yz {
namespace {

using test::tiny;
using test::logits;
using test::max_diff;

std::vector<int32_t> flat(const torch::Tensor& ids) {
  torch::Tensor f = ids.reshape({-1}).to(torch::kInt);
  return std::vector<int32_t>(f.data_ptr<int32_t>(), f.data_ptr<int32_t>() + f.numel());
}
double ppl(CausalLm& lm, const torch::Tensor& windows) {
  PplOptions o;
  o.ctx = windows.size(1);
  o.progress = false;
  return perplexity(lm, flat(windows), o).ppl;
}

struct Fixture {
  CausalLm gqa{nullptr};
  nlohmann::json config;
  ConversionData data;
};
Fixture fixture(const std::string& name) {
  Fixture f{load_causal_lm(tiny(name), {torch::kCPU, torch::kDouble}),
            read_json_file(tiny(name) / "config.json"), {}};
  torch::manual_seed(17);
  f.data.calib = torch::randint(0, 256, {12, 24}, torch::kLong);
  f.data.eval.emplace_back("heldout", torch::randint(0, 256, {3, 20}, torch::kLong));
  return f;
}

TEST(ConvertStream, StreamedPerplexityEqualsTheModels) {
  Fixture f = fixture("qwen25");
  ConversionResult r = convert_module(f.gqa, f.config, {4, 12, {2}, 1.0}, f.data);
  const torch::Tensor& w = f.data.eval[0].second;
  EXPECT_NEAR(r.report["ppl"]["original"]["heldout"].get<double>(), ppl(f.gqa, w), 1e-9);
  EXPECT_NEAR(r.report["ppl"]["partial_rope"]["heldout"].get<double>(), ppl(r.partial, w), 1e-9);
  EXPECT_NEAR(r.report["ppl"]["final"]["heldout"].get<double>(), ppl(r.final, w), 1e-9);
  for (const char* phase : {"convert"})
    EXPECT_GT(r.report["phases"][phase]["peak_rss_bytes"].get<int64_t>(), 0);
}

TEST(ConvertStream, FullRankLowRankQueryIsExact) {
  Fixture f = fixture("qwen25");  // q/k/v biases: the q bias moves to q_b_proj
  const int64_t HD = f.gqa->config.num_attention_heads * f.gqa->config.head_dim;
  MlaPlan plan{4, 12, {2}, 1.0};
  ConversionResult full_q = convert_module(f.gqa, f.config, plan, f.data);
  plan.q_lora_rank = HD;
  ConversionResult low = convert_module(f.gqa, f.config, plan, f.data);
  ASSERT_TRUE(low.final->config.q_lora_rank.has_value());
  torch::Tensor ids = torch::randint(0, 256, {2, 16}, torch::kLong);
  EXPECT_LT(max_diff(logits(low.final, ids), logits(full_q.final, ids)), 1e-9);
  low.final->set_mla_path(MlaPath::kAbsorbed);
  EXPECT_LT(max_diff(logits(low.final, ids), logits(full_q.final, ids)), 1e-9);
  plan.q_lora_rank = HD / 4;  // a real truncation moves the logits
  ConversionResult lower = convert_module(f.gqa, f.config, plan, f.data);
  EXPECT_GT(max_diff(logits(lower.final, ids), logits(full_q.final, ids)), 1e-6);
}

TEST(ConvertStream, StockIsNativeWithoutBiasesPlusLatentNorms) {
  Fixture f = fixture("qwen25");
  MlaPlan plan{4, 12, {2}, 1.0};
  plan.q_lora_rank = 32;
  ConversionResult native = convert_module(f.gqa, f.config, plan, f.data);
  plan.target = Target::kStock;
  ConversionResult stock = convert_module(f.gqa, f.config, plan, f.data);
  EXPECT_FALSE(stock.final->config.attention_bias);
  EXPECT_TRUE(stock.final->config.qk_latent_layernorm);
  auto nat = native.final->named_parameters();
  int64_t norms = 0;
  for (const auto& item : stock.final->named_parameters()) {
    EXPECT_EQ(item.key().find(".bias"), std::string::npos) << item.key();
    if (const auto* t = nat.find(item.key())) {
      EXPECT_LT(max_diff(item.value(), *t), 1e-12) << item.key();
    } else {
      EXPECT_NE(item.key().find("layernorm"), std::string::npos) << item.key();
      ++norms;
    }
  }
  EXPECT_EQ(norms, 2 * f.gqa->config.num_hidden_layers);  // kv_a_ and q_a_layernorm per layer
  // γ = E[RMS(c)] of the bias-free latent on the step-1 model's calibration activations.
  const int64_t r = plan.kv_lora_rank;
  std::vector<double> sum(f.gqa->config.num_hidden_layers, 0.0);
  {
    torch::NoGradGuard g;
    stock.partial->forward(f.data.calib, nullptr, [&](int64_t l, const torch::Tensor& x) {
      auto* a = dynamic_cast<MlaAttentionImpl*>(
          stock.final->model->layers[l]->as<DecoderLayerImpl>()->self_attn.get());
      torch::Tensor c = torch::nn::functional::linear(
          x, a->kv_a_proj_with_mqa->weight.narrow(0, 0, r));
      sum[l] += c.pow(2).mean(-1).sqrt().sum().item<double>();
    });
  }
  for (int64_t l = 0; l < f.gqa->config.num_hidden_layers; ++l) {
    auto* a = dynamic_cast<MlaAttentionImpl*>(
        stock.final->model->layers[l]->as<DecoderLayerImpl>()->self_attn.get());
    const double want = sum[l] / f.data.calib.numel();
    EXPECT_NEAR(a->kv_a_layernorm->weight[0].item<double>(), want, 1e-9 * want);
    EXPECT_NEAR(stock.report["layers"][l]["latent_norm_gamma"].get<double>(), want, 1e-9 * want);
  }
  // The report scores the exact native export beside the stock one.
  EXPECT_NEAR(stock.report["ppl"]["final_native"]["heldout"].get<double>(),
              native.report["ppl"]["final"]["heldout"].get<double>(), 1e-9);
  EXPECT_NEAR(stock.report["ppl"]["final"]["heldout"].get<double>(),
              ppl(stock.final, f.data.eval[0].second), 1e-9);
}

TEST(ConvertStream, StockPadsPerLayerPlansExactly) {
  // llama31 tiny (no biases, D = 16): layer 0 keeps d_r 8, r 20; layer 1 d_r 4, r 12. The stock
  // export pads layer 1 to d_r 8, r 20 and must compute what the per-layer model with the same
  // latent norms computes.
  Fixture f = fixture("llama31");
  MlaPlan plan{8, 20, {2, 4}, 1.0};
  plan.rope_dims = {8, 4};
  plan.kv_lora_ranks = {20, 12};
  plan.latent_norm = true;
  ConversionResult per_layer = convert_module(f.gqa, f.config, plan, f.data);
  plan.target = Target::kStock;
  ConversionResult stock = convert_module(f.gqa, f.config, plan, f.data);
  const ModelConfig& c = stock.final->config;
  for (const auto& l : c.mla_layers) {
    EXPECT_EQ(l.kv_lora_rank, 20);
    EXPECT_EQ(l.qk_rope_head_dim, 8);
  }
  torch::Tensor ids = torch::randint(0, 256, {2, 20}, torch::kLong);
  torch::Tensor want = logits(per_layer.final, ids);
  EXPECT_LT(max_diff(logits(stock.final, ids), want), 1e-9);
  stock.final->set_mla_path(MlaPath::kAbsorbed);
  EXPECT_LT(max_diff(logits(stock.final, ids), want), 1e-9);
  const auto& kv = stock.report["kv_elements_per_token"];
  EXPECT_EQ(kv["after"].get<int64_t>(), 2 * (20 + 8));
  EXPECT_EQ(kv["unpadded"].get<int64_t>(), (20 + 8) + (12 + 4));
  const nlohmann::ordered_json cfg = mla_config_json(f.config, f.gqa->config, plan);
  EXPECT_EQ(cfg["kv_lora_rank"], 20);
  EXPECT_EQ(cfg["qk_rope_head_dim"], 8);
  EXPECT_EQ(cfg["youzhi"]["padded_from"]["kv_lora_rank"].get<std::vector<int64_t>>(),
            (std::vector<int64_t>{20, 12}));
  // A d_r that does not divide the widest layer's cannot be padded (head_dim 48: d_r 16 and 24).
  const ModelConfig hd48 = load_config(tiny("qwen2_hd48"));
  MlaPlan odd{16, 20, std::vector<int64_t>(hd48.num_hidden_layers, 6), 1.0, {}, false, Target::kStock};
  odd = per_layer_plan(odd, hd48.num_hidden_layers);
  odd.rope_dims.back() = 24;
  try {
    validate_plan(hd48, odd);
    FAIL() << "accepted d_r 16 padded to 24";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("does not divide"), std::string::npos) << e.what();
  }
}

TEST(ConvertStream, StockPaddingRefusesARopeScalingThatMovesFrequencies) {
  // yarn's ramp is placed by pair index: at these settings pair p of a 8-wide rotary and pair 2p
  // of a 16-wide one get frequencies 12.5% apart, so padding would change the model.
  nlohmann::json j = {{"model_type", "qwen2"}, {"vocab_size", 64}, {"hidden_size", 32},
                      {"intermediate_size", 48}, {"num_hidden_layers", 2},
                      {"num_attention_heads", 2}, {"num_key_value_heads", 1},
                      {"rope_theta", 10000.0}, {"max_position_embeddings", 4096},
                      {"rope_scaling", {{"rope_type", "yarn"}, {"factor", 4.0},
                                        {"original_max_position_embeddings", 1024}}}};
  const ModelConfig c = parse_config(j);
  try {
    pad_attention({}, c, 10, 8, 20, 16);
    FAIL() << "padded d_r 8 to 16 under yarn";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("rope_scaling yarn"), std::string::npos) << e.what();
  }
}

TEST(ConvertStream, FreqfoldAutoIsGreedyDoublingOnTheSelectionSplit) {
  Fixture f = fixture("llama31");  // D = 16, d_r = 8: f ∈ {2, 4, 8}
  f.data.select = torch::randint(0, 256, {4, 24}, torch::kLong);
  ConversionResult r = convert_module(f.gqa, f.config, {8, 12, {}, 1.0}, f.data);
  const auto& s = r.report["freqfold_search"];
  std::vector<double> score;
  for (int64_t fold : {2, 4, 8}) score.push_back(s["selection_ppl_partial_rope"][std::to_string(fold)]);
  size_t best = 0;
  while (best + 1 < score.size() && score[best + 1] < score[best]) ++best;
  const int64_t chosen = s["chosen"].get<int64_t>();
  EXPECT_EQ(chosen, int64_t{2} << best);
  for (int64_t v : r.report["plan"]["freqfold"].get<std::vector<int64_t>>()) EXPECT_EQ(v, chosen);
  // Each score is the step-1 model's perplexity on the selection windows.
  for (int64_t fold : {2, 8}) {
    ConversionResult fixed = convert_module(f.gqa, f.config, {8, 12, {fold}, 1.0}, f.data);
    EXPECT_NEAR(s["selection_ppl_partial_rope"][std::to_string(fold)].get<double>(),
                ppl(fixed.partial, f.data.select), 1e-9);
  }
  f.data.select = torch::Tensor();
  EXPECT_THROW(convert_module(f.gqa, f.config, {8, 12, {}, 1.0}, f.data), Error);
}

TEST(Calibration, SelectionSplitSharesNoDocumentWithCalibration) {
  test::TempDir dir;
  {
    std::ofstream out(dir / "docs.txt");
    for (int d = 0; d < 300; ++d) out << "doc" << d << " the market rose and fell again\n\n";
  }
  tok::Tokenizer tk = tok::Tokenizer::from_file(test::source_dir() / "models" / "yz-qwen2-gqa-16m");
  CalibrationSplit s = sample_calibration_split(tk, {dir / "docs.txt"}, {8, 40, 1}, {4, 40, 2});
  auto docs_in = [&](const torch::Tensor& ids) {
    std::set<int> out;
    const std::string text = tk.decode(flat(ids));
    for (size_t p = text.find("doc"); p != std::string::npos; p = text.find("doc", p + 3))
      if (std::isdigit(static_cast<unsigned char>(text[p + 3]))) out.insert(std::stoi(text.substr(p + 3)));
    return out;
  };
  std::set<int> calib = docs_in(s.calib), select = docs_in(s.select);
  EXPECT_GT(calib.size(), 10u);
  EXPECT_GT(select.size(), 5u);
  for (int d : select) EXPECT_EQ(calib.count(d), 0u) << "document " << d << " in both";
  try {
    sample_calibration_split(tk, {dir / "docs.txt"}, {8, 40, 1}, {400, 40, 2});
    FAIL() << "an oversized selection split was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("selection split"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace yz
