// Layer-adaptive conversion plans (mla_conversion.md §7, issue #5). Single-layer sensitivity
// profiles: ΔNLL on a selection split when layer l of the best uniform plan (every layer at the
// budget's d_r and r, the fold with the lowest selection NLL) takes a choice (d_r, r, f) instead,
// step-2 calibration on the original model's inputs to layer l. §7.2 step 3 measures against the
// original model; against the uniform plan the knapsack's sum of single-layer changes tracks the
// converted model better (measured: R 0.48 → 0.59 / 0.32 → 0.37 at a third of the cache). Then
//   fold   (§7.2): f_l = argmin ΔNLL at uniform d_r and r (same cache bytes, stock-loadable);
//   budget (§7.3): (d_r_l, r_l, f_l) by a multiple-choice knapsack under Σ(r_l + d_r_l) ≤ B;
// and interaction-aware refinement scored on the fully converted model (coordinate descent for
// fold, budget-preserving exchanges for budget). Every choice of a layer is built from one
// float64 Gram of [k, v] per layer, so profiling needs one calibration pass plus the forwards.
#pragma once

#include <torch/torch.h>

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "convert/converter.h"

namespace yz {

enum class AdaptiveMode { kFold, kBudget };
const char* adaptive_mode_name(AdaptiveMode m);
AdaptiveMode parse_adaptive_mode(const std::string& name);  // "fold" / "budget"

struct LayerChoice {
  int64_t rope_dim = 0, kv_lora_rank = 0, freqfold = 0;
  int64_t cost() const { return rope_dim + kv_lora_rank; }  // cached elements per token
  bool operator==(const LayerChoice& o) const {
    return rope_dim == o.rope_dim && kv_lora_rank == o.kv_lora_rank && freqfold == o.freqfold;
  }
};

struct PlanRequest {
  AdaptiveMode mode = AdaptiveMode::kFold;
  int64_t elements_per_layer = 0;  // KV budget: mean r + d_r per layer (uniform plans: exactly)
  int64_t rope_dim = 0;            // fold mode's uniform d_r (budget mode: a starting point)
  double balance = 1.0;
  int refine_sweeps = 2;
  fs::path profile_cache;          // directory; empty = no cache
  std::string cache_key;           // identifies model + data (the caller's business)
  bool progress = true;
  FitOptions fit;                  // the conversion's method (inputs: always the original model's)
};

struct AdaptivePlan {
  MlaPlan plan;                  // per-layer lists filled
  nlohmann::ordered_json report; // profiles, initial and refined plans, NLLs, forward counts
};

// Plans a conversion of `gqa` (in memory, on its device) under `request`. calib: [N, T],
// select: [M, T'] token windows from disjoint documents.
AdaptivePlan plan_adaptive(CausalLm& gqa, const nlohmann::json& config_json,
                           const torch::Tensor& calib, const torch::Tensor& select,
                           const PlanRequest& request);

// Choices profiled for layer-adaptive planning (exposed for tests): fold mode all f at (d_r, r);
// budget mode d_r ∈ {D/4, D/2, D} with their f and a grid of r around the budget.
std::vector<LayerChoice> fold_choices(const ModelConfig& gqa, int64_t rope_dim, int64_t rank);

// Multiple-choice knapsack: one choice per layer minimising Σ cost_l(choice) subject to
// Σ choice.cost() ≤ budget (exact DP over cost in units of the choices' gcd). Throws when even
// the cheapest plan exceeds the budget.
std::vector<size_t> knapsack(const std::vector<std::vector<LayerChoice>>& choices,
                             const std::vector<std::vector<double>>& loss, int64_t budget);

}  // namespace yz
