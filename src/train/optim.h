// Optimisation: AdamW with decoupled weight decay on float32 master weights, the learning-rate
// schedules (linear warmup, then cosine or warmup-stable-decay) and global-norm clipping.
// AdamW follows torch.optim.AdamW (and libtorch's torch::optim::AdamW, which the tests compare
// against) step for step; its state lives in named tensors so a checkpoint stores it as
// safetensors, readable by any libtorch version.
#pragma once

#include <torch/torch.h>

#include <string>
#include <vector>

namespace yz::train {

struct AdamWOptions {
  double beta1 = 0.9, beta2 = 0.95;  // β2 0.95: MHA2MLA's and most LLM recipes' choice
  double eps = 1e-8;
  double weight_decay = 0.0;  // applied to matrices only (norm weights and biases are not decayed)
};

class AdamW {
 public:
  // `masters`: float32 leaf tensors whose .grad() holds the step's gradient; `names` label them
  // in checkpoints. Weight decay applies where decay[i].
  AdamW(std::vector<torch::Tensor> masters, std::vector<std::string> names, std::vector<bool> decay,
        const AdamWOptions& options);
  // p ← p·(1 − lr·wd); m ← β1·m + (1−β1)·g; v ← β2·v + (1−β2)·g²;
  // p ← p − lr/(1−β1^t) · m / (√v/√(1−β2^t) + ε)   (torch.optim.AdamW, amsgrad off)
  void step(double lr);
  int64_t steps() const { return step_; }

  // "exp_avg.<name>" / "exp_avg_sq.<name>" tensors and the step count, for checkpoints.
  std::vector<std::pair<std::string, torch::Tensor>> state() const;
  void load_state(const std::vector<std::pair<std::string, torch::Tensor>>& tensors, int64_t steps);

 private:
  std::vector<torch::Tensor> params_, exp_avg_, exp_avg_sq_;
  std::vector<std::string> names_;
  std::vector<bool> decay_;
  AdamWOptions o_;
  int64_t step_ = 0;
};

enum class Schedule { kCosine, kWsd };
Schedule parse_schedule(const std::string& name);  // "cosine" | "wsd"

struct LrSchedule {
  Schedule kind = Schedule::kCosine;
  double peak = 1e-4, min = 0.0;
  int64_t warmup = 0, total = 1;
  double decay_fraction = 0.2;  // wsd: the last 20% of the steps decay
  // lr of optimizer step `step` (0-based): linear warmup (step+1)/warmup·peak; then cosine from
  // peak to min over the remaining steps, or (wsd) peak until the decay phase and then
  // min + (peak − min)·(1 − √x), x the fraction of the decay done (the "1-sqrt" cooldown of
  // Hägele et al. 2024 that MHA2MLA uses).
  double at(int64_t step) const;
};

// Global L2 norm of the gradients (float64 sum of float32 squares) before clipping; scales them
// by max_norm / (norm + 1e-6) when that is below 1 (torch.nn.utils.clip_grad_norm_). max_norm
// <= 0: no clipping, the norm is still returned.
double clip_grad_norm(const std::vector<torch::Tensor>& grads, double max_norm);

}  // namespace yz::train
