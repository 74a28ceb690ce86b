// Layer-adaptive planning (planner.h): the knapsack is optimal (checked against enumeration)
// and respects the budget; a single-layer profile of an exact conversion is zero; fold plans
// start from the per-layer argmin and refinement never makes the selection NLL worse; budget
// plans stay within the budget and convert; cached profiles are reused.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <random>

#include "convert/planner.h"
#include "test_util.h"
#include "util/error.h"
#include "util/json_file.h"

namespace yz {
namespace {

fs::path tiny(const std::string& name) { return test::data_dir() / "decoder" / "tiny_models" / name; }

TEST(Knapsack, MatchesEnumerationAndRespectsTheBudget) {
  std::mt19937 rng(5);
  for (int trial = 0; trial < 20; ++trial) {
    const int L = 3, K = 4;
    std::vector<std::vector<LayerChoice>> ch(L);
    std::vector<std::vector<double>> loss(L);
    for (int l = 0; l < L; ++l)
      for (int k = 0; k < K; ++k) {
        ch[l].push_back({2, 2 * static_cast<int64_t>(1 + rng() % 8), 1});
        loss[l].push_back(std::uniform_real_distribution<double>(-0.1, 1.0)(rng));
      }
    const int64_t budget = 20 + rng() % 20;
    double best = 1e300;
    for (int a = 0; a < K; ++a)
      for (int b = 0; b < K; ++b)
        for (int c = 0; c < K; ++c)
          if (ch[0][a].cost() + ch[1][b].cost() + ch[2][c].cost() <= budget)
            best = std::min(best, loss[0][a] + loss[1][b] + loss[2][c]);
    if (best >= 1e300) {
      EXPECT_THROW(knapsack(ch, loss, budget), Error);
      continue;
    }
    std::vector<size_t> pick = knapsack(ch, loss, budget);
    double got = 0;
    int64_t cost = 0;
    for (int l = 0; l < L; ++l) got += loss[l][pick[l]], cost += ch[l][pick[l]].cost();
    EXPECT_NEAR(got, best, 1e-12);
    EXPECT_LE(cost, budget);
  }
}

struct PlanSetup {
  CausalLm gqa{nullptr};
  nlohmann::json config;
  torch::Tensor calib, select;
};
PlanSetup setup(const std::string& name) {
  PlanSetup s{load_causal_lm(tiny(name), {torch::kCPU, torch::kDouble}),
          read_json_file(tiny(name) / "config.json"), {}, {}};
  torch::manual_seed(23);
  s.calib = torch::randint(0, 256, {12, 24}, torch::kLong);
  s.select = torch::randint(0, 256, {4, 24}, torch::kLong);
  return s;
}

TEST(Planner, FoldPlanStartsAtTheArgminAndRefinementOnlyImproves) {
  PlanSetup s = setup("llama31");  // D = 16, G = 2: 2·G·D = 64 cached per layer
  PlanRequest req;
  req.mode = AdaptiveMode::kFold;
  req.elements_per_layer = 32;
  req.rope_dim = 8;
  req.progress = false;
  AdaptivePlan p = plan_adaptive(s.gqa, s.config, s.calib, s.select, req);
  const auto& rep = p.report;
  const auto& prof = rep["profiles"];
  ASSERT_EQ(prof.size(), 2u);
  for (size_t l = 0; l < prof.size(); ++l) {
    ASSERT_EQ(prof[l].size(), 3u);  // f ∈ {2, 4, 8}
    size_t best = 0;
    for (size_t k = 0; k < prof[l].size(); ++k)
      if (prof[l][k]["delta_nll"].get<double>() < prof[l][best]["delta_nll"].get<double>()) best = k;
    EXPECT_EQ(rep["initial_plan"][l]["freqfold"], prof[l][best]["freqfold"]);
    EXPECT_EQ(p.plan.kv_lora_ranks[l], 24);
    EXPECT_EQ(p.plan.rope_dims[l], 8);
  }
  EXPECT_LE(rep["selection_nll"]["refined"].get<double>(), rep["selection_nll"]["initial"].get<double>());
  EXPECT_EQ(rep["kv_elements_per_token"].get<int64_t>(), 2 * 32);
  EXPECT_GT(rep["cost"]["profile_layer_passes"].get<int64_t>(), 0);
  // The plan converts; stock is allowed because d_r and r are uniform.
  p.plan.target = Target::kStock;
  EXPECT_NO_THROW(validate_plan(s.gqa->config, p.plan));
}

TEST(Planner, ProfileOfAnExactConversionIsZero) {
  // One KV head, d_r = D, f = 1 and r = max: converting a layer changes nothing.
  PlanSetup s = setup("mistral");
  PlanRequest req;
  req.mode = AdaptiveMode::kFold;
  req.rope_dim = 16;
  req.elements_per_layer = 16 + max_kv_lora_rank(s.gqa->config, 16);
  req.progress = false;
  AdaptivePlan p = plan_adaptive(s.gqa, s.config, s.calib, s.select, req);
  for (const auto& layer : p.report["profiles"])
    for (const auto& c : layer) {
      const double d = c["delta_nll"].get<double>();
      if (c["freqfold"].get<int64_t>() == 1) EXPECT_NEAR(d, 0.0, 1e-9);
      else EXPECT_GT(std::abs(d), 1e-6) << "a fold of " << c["freqfold"] << " changed nothing";
    }
}

TEST(Planner, BudgetPlanStaysWithinTheBudgetConvertsAndCaches) {
  PlanSetup s = setup("qwen25");  // D = 8, G = 2: 32 cached per layer; biases
  test::TempDir cache;
  PlanRequest req;
  req.mode = AdaptiveMode::kBudget;
  req.elements_per_layer = 16;
  req.rope_dim = 4;
  req.progress = false;
  req.profile_cache = cache.path();
  req.cache_key = "qwen25-tiny";
  AdaptivePlan p = plan_adaptive(s.gqa, s.config, s.calib, s.select, req);
  int64_t total = 0;
  for (size_t l = 0; l < p.plan.rope_dims.size(); ++l) total += p.plan.rope_dims[l] + p.plan.kv_lora_ranks[l];
  EXPECT_LE(total, 3 * 16);
  EXPECT_EQ(p.report["kv_elements_per_token"].get<int64_t>(), total);
  EXPECT_FALSE(p.report["profiles_cached"].get<bool>());
  ConversionResult r = convert_module(s.gqa, s.config, p.plan, {s.calib});
  EXPECT_EQ(r.final->config.kv_elements_per_token(), total);
  torch::NoGradGuard g;
  EXPECT_TRUE(torch::isfinite(r.final->forward(s.select)).all().item<bool>());
  AdaptivePlan again = plan_adaptive(s.gqa, s.config, s.calib, s.select, req);
  EXPECT_TRUE(again.report["profiles_cached"].get<bool>());
  EXPECT_EQ(again.report["plan"], p.report["plan"]);
  EXPECT_EQ(again.report["cost"]["profile_layer_passes"].get<int64_t>(), 0);
  req.elements_per_layer = 1;  // below any d_r
  EXPECT_THROW(plan_adaptive(s.gqa, s.config, s.calib, s.select, req), Error);
}

}  // namespace
}  // namespace yz
