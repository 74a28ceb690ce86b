// AdamW, learning-rate schedules and clipping (see optim.h).
#include "train/optim.h"

#include <cmath>

#include "util/error.h"

namespace yz::train {

AdamW::AdamW(std::vector<torch::Tensor> masters, std::vector<std::string> names,
             std::vector<bool> decay, const AdamWOptions& options)
    : params_(std::move(masters)), names_(std::move(names)), decay_(std::move(decay)), o_(options) {
  YZ_ASSERT(params_.size() == names_.size() && params_.size() == decay_.size(), "AdamW lists");
  for (const auto& p : params_) {
    YZ_ASSERT(p.scalar_type() == torch::kFloat, "AdamW master weights must be float32");
    exp_avg_.push_back(torch::zeros_like(p));
    exp_avg_sq_.push_back(torch::zeros_like(p));
  }
}

void AdamW::step(double lr) {
  torch::NoGradGuard no_grad;
  ++step_;
  const double bc1 = 1 - std::pow(o_.beta1, static_cast<double>(step_));
  const double bc2 = 1 - std::pow(o_.beta2, static_cast<double>(step_));
  for (size_t i = 0; i < params_.size(); ++i) {
    torch::Tensor& p = params_[i];
    const torch::Tensor& g = p.grad();
    if (!g.defined()) continue;
    if (decay_[i] && o_.weight_decay != 0) p.mul_(1 - lr * o_.weight_decay);
    exp_avg_[i].mul_(o_.beta1).add_(g, 1 - o_.beta1);
    exp_avg_sq_[i].mul_(o_.beta2).addcmul_(g, g, 1 - o_.beta2);
    torch::Tensor denom = (exp_avg_sq_[i].sqrt() / std::sqrt(bc2)).add_(o_.eps);
    p.addcdiv_(exp_avg_[i], denom, -lr / bc1);
  }
}

std::vector<std::pair<std::string, torch::Tensor>> AdamW::state() const {
  std::vector<std::pair<std::string, torch::Tensor>> out;
  for (size_t i = 0; i < params_.size(); ++i) {
    out.emplace_back("exp_avg." + names_[i], exp_avg_[i]);
    out.emplace_back("exp_avg_sq." + names_[i], exp_avg_sq_[i]);
  }
  return out;
}

void AdamW::load_state(const std::vector<std::pair<std::string, torch::Tensor>>& tensors,
                       int64_t steps) {
  std::map<std::string, torch::Tensor> by_name(tensors.begin(), tensors.end());
  torch::NoGradGuard no_grad;
  for (size_t i = 0; i < params_.size(); ++i) {
    for (auto [prefix, dst] : {std::make_pair("exp_avg.", &exp_avg_[i]),
                               std::make_pair("exp_avg_sq.", &exp_avg_sq_[i])}) {
      auto it = by_name.find(prefix + names_[i]);
      YZ_CHECK(it != by_name.end(), "optimizer state lacks '", prefix, names_[i], "'");
      YZ_CHECK(it->second.sizes() == dst->sizes(), "optimizer state '", prefix, names_[i],
               "' has shape ", it->second.sizes(), ", the parameter ", dst->sizes());
      dst->copy_(it->second);
    }
  }
  step_ = steps;
}

Schedule parse_schedule(const std::string& name) {
  if (name == "cosine") return Schedule::kCosine;
  if (name == "wsd") return Schedule::kWsd;
  YZ_THROW(ErrorKind::kUsage, "unknown --schedule '", name, "' (use cosine or wsd)");
}

double LrSchedule::at(int64_t step) const {
  if (step < warmup) return peak * static_cast<double>(step + 1) / static_cast<double>(warmup);
  if (kind == Schedule::kCosine) {
    const double x = static_cast<double>(step - warmup) / static_cast<double>(std::max<int64_t>(1, total - warmup));
    return min + 0.5 * (peak - min) * (1 + std::cos(M_PI * std::min(1.0, x)));
  }
  const int64_t decay_steps = static_cast<int64_t>(std::llround(decay_fraction * static_cast<double>(total)));
  const int64_t decay_start = std::max(warmup, total - decay_steps);
  if (step < decay_start) return peak;
  const double x = static_cast<double>(step - decay_start + 1) /
                   static_cast<double>(std::max<int64_t>(1, total - decay_start));
  return min + (peak - min) * (1 - std::sqrt(std::min(1.0, x)));
}

double clip_grad_norm(const std::vector<torch::Tensor>& grads, double max_norm) {
  torch::NoGradGuard no_grad;
  torch::Tensor total;
  for (const auto& g : grads) {
    if (!g.defined()) continue;
    torch::Tensor sq = g.to(torch::kFloat).pow(2).sum().to(torch::kDouble);
    total = total.defined() ? total + sq : sq;
  }
  if (!total.defined()) return 0.0;
  const double norm = std::sqrt(total.item<double>());
  if (max_norm > 0) {
    const double coef = max_norm / (norm + 1e-6);
    if (coef < 1)
      for (const auto& g : grads)
        if (g.defined()) g.mul_(coef);
  }
  return norm;
}

}  // namespace yz::train
