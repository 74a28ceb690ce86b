// AdamW against libtorch's torch::optim::AdamW step for step (float32, decoupled decay on the
// matrices only), its state round trip, the schedules at their defining points, and global-norm
// clipping against torch::nn::utils::clip_grad_norm_.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>

#include "train/optim.h"

namespace yz::train {
namespace {

TEST(AdamW, MatchesLibtorchAdamW) {
  torch::manual_seed(0);
  torch::Tensor w0 = torch::randn({7, 5}), b0 = torch::randn({5});
  // Ours: decay on the matrix only. Reference: two param groups with the same split.
  torch::Tensor w = w0.clone(), b = b0.clone();
  AdamWOptions o;
  o.beta1 = 0.9;
  o.beta2 = 0.95;
  o.eps = 1e-8;
  o.weight_decay = 0.1;
  AdamW ours({w, b}, {"w", "b"}, {true, false}, o);
  torch::Tensor rw = w0.clone().requires_grad_(true), rb = b0.clone().requires_grad_(true);
  const double lr0 = 3e-3;
  auto opt_w = torch::optim::AdamWOptions(lr0).betas({0.9, 0.95}).eps(1e-8).weight_decay(0.1);
  auto opt_b = torch::optim::AdamWOptions(lr0).betas({0.9, 0.95}).eps(1e-8).weight_decay(0.0);
  torch::optim::AdamW ref({torch::optim::OptimizerParamGroup({rw}, std::make_unique<torch::optim::AdamWOptions>(opt_w)),
                           torch::optim::OptimizerParamGroup({rb}, std::make_unique<torch::optim::AdamWOptions>(opt_b))});
  for (int step = 0; step < 6; ++step) {
    const double lr = lr0 * (1 + step) / 6;
    torch::Tensor gw = torch::randn({7, 5}), gb = torch::randn({5});
    w.mutable_grad() = gw.clone();
    b.mutable_grad() = gb.clone();
    rw.mutable_grad() = gw.clone();
    rb.mutable_grad() = gb.clone();
    for (auto& g : ref.param_groups()) static_cast<torch::optim::AdamWOptions&>(g.options()).lr(lr);
    ours.step(lr);
    ref.step();
    EXPECT_LT((w - rw).abs().max().item<double>(), 1e-7) << "step " << step;
    EXPECT_LT((b - rb).abs().max().item<double>(), 1e-7) << "step " << step;
  }
  EXPECT_EQ(ours.steps(), 6);
  EXPECT_GT((w - w0).abs().max().item<double>(), 1e-3);  // it moved
}

TEST(AdamW, StateRoundTripContinuesIdentically) {
  torch::manual_seed(1);
  torch::Tensor a = torch::randn({4, 3}), a2 = a.clone();
  AdamW one({a}, {"a"}, {true}, {});
  for (int i = 0; i < 3; ++i) {
    a.mutable_grad() = torch::randn({4, 3});
    one.step(1e-2);
  }
  a2.copy_(a);
  AdamW two({a2}, {"a"}, {true}, {});
  two.load_state(one.state(), one.steps());
  torch::Tensor g = torch::randn({4, 3});
  a.mutable_grad() = g.clone();
  a2.mutable_grad() = g.clone();
  one.step(1e-2);
  two.step(1e-2);
  EXPECT_TRUE(torch::equal(a, a2));
  EXPECT_THROW(two.load_state({}, 1), std::exception);
}

TEST(Schedule, CosineAndWsd) {
  LrSchedule s;
  s.peak = 1e-3;
  s.min = 1e-4;
  s.warmup = 10;
  s.total = 110;
  EXPECT_DOUBLE_EQ(s.at(0), 1e-4);   // (0+1)/10 of peak
  EXPECT_DOUBLE_EQ(s.at(9), 1e-3);   // warmup ends at the peak
  EXPECT_DOUBLE_EQ(s.at(10), 1e-3);  // cosine starts at the peak
  EXPECT_NEAR(s.at(60), 0.5 * (1e-3 + 1e-4), 1e-12);  // halfway
  EXPECT_NEAR(s.at(110), 1e-4, 1e-12);
  s.kind = Schedule::kWsd;
  s.decay_fraction = 0.2;  // decay over the last 22 steps: 88 .. 109
  EXPECT_DOUBLE_EQ(s.at(50), 1e-3);
  EXPECT_DOUBLE_EQ(s.at(87), 1e-3);
  EXPECT_NEAR(s.at(109), 1e-4, 1e-12);  // 1 - sqrt(1) = 0
  EXPECT_NEAR(s.at(98), 1e-4 + 9e-4 * (1 - std::sqrt(11.0 / 22)), 1e-12);
}

TEST(Clip, MatchesLibtorch) {
  torch::manual_seed(2);
  std::vector<torch::Tensor> ours{torch::randn({5, 3}) * 3, torch::randn({7}) * 3};
  std::vector<torch::Tensor> params;
  for (const auto& g : ours) {
    torch::Tensor p = torch::zeros_like(g).requires_grad_(true);
    p.mutable_grad() = g.clone();
    params.push_back(p);
  }
  const double ref = torch::nn::utils::clip_grad_norm_(params, 1.0);
  const double norm = clip_grad_norm(ours, 1.0);
  EXPECT_NEAR(norm, ref, 1e-5 * ref);
  for (size_t i = 0; i < ours.size(); ++i)
    EXPECT_LT((ours[i] - params[i].grad()).abs().max().item<double>(), 1e-6);
  EXPECT_NEAR(clip_grad_norm(ours, 0), 1.0, 1e-5);  // already clipped; 0 = measure only
}

}  // namespace
}  // namespace yz::train
