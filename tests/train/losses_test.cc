// The chunked fused-linear losses against plain autograd on full logits (TRL's formulas), in
// float64 (tolerance 1e-10: the same math, different order) and float32 (relative 1e-5): loss
// value, gradient with respect to the hidden states and to the output weight, several chunks,
// masked tokens; the GKD endpoints against independently written KL divergences; Liger's
// chunk rule.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "train/data.h"
#include "train/losses.h"

namespace yz::train {
namespace {

struct Case {
  torch::Tensor h_s, w_s, h_t, w_t, targets;
};

// N tokens, hidden H, vocab V; about a quarter of the targets masked. Weights scaled so that
// the distributions are far from uniform (a real test of the gradient, not of its zero).
Case make_case(torch::ScalarType dtype, int64_t N = 13, int64_t H = 24, int64_t V = 97, int seed = 0) {
  torch::manual_seed(seed);
  auto o = torch::dtype(dtype);
  Case c;
  c.h_s = torch::randn({N, H}, o);
  c.w_s = torch::randn({V, H}, o) * 0.6;
  c.h_t = c.h_s + 0.5 * torch::randn({N, H}, o);
  c.w_t = c.w_s + 0.3 * torch::randn({V, H}, o);
  c.targets = torch::randint(0, V, {N}, torch::kLong);
  c.targets.masked_fill_(torch::rand({N}) < 0.25, kIgnore);
  c.targets[0] = 5;  // at least one counted token
  return c;
}

struct Grads {
  double loss;
  torch::Tensor dh, dw;
};

Grads chunked(const Case& c, bool gkd, double beta, int64_t chunk, double scale) {
  torch::Tensor h = c.h_s.clone().requires_grad_(true), w = c.w_s.clone().requires_grad_(true);
  LossOptions o;
  o.gkd = gkd;
  o.beta = beta;
  o.chunk = chunk;
  o.scale = scale;
  torch::Tensor loss = chunked_linear_loss(h, w, c.targets, c.h_t, c.w_t, o);
  loss.backward();
  return {loss.item<double>(), h.grad(), w.grad()};
}

Grads reference(const Case& c, bool gkd, double beta, double scale) {
  torch::Tensor h = c.h_s.clone().requires_grad_(true), w = c.w_s.clone().requires_grad_(true);
  torch::Tensor zs = torch::mm(h, w.t());
  torch::Tensor loss = gkd ? gkd_loss_reference(zs, torch::mm(c.h_t, c.w_t.t()), c.targets, beta)
                           : ce_loss_reference(zs, c.targets);
  loss = loss * scale;
  loss.backward();
  return {loss.item<double>(), h.grad(), w.grad()};
}

double rel(const torch::Tensor& a, const torch::Tensor& b) {
  return ((a - b).abs().max() / b.abs().max().clamp_min(1e-30)).item<double>();
}

TEST(ChunkedLoss, GkdMatchesAutogradFloat64) {
  const Case c = make_case(torch::kDouble);
  for (double beta : {0.0, 0.1, 0.5, 0.9, 1.0})
    for (int64_t chunk : {1, 4, 64}) {
      Grads a = chunked(c, true, beta, chunk, 1.0 / 7), b = reference(c, true, beta, 1.0 / 7);
      EXPECT_NEAR(a.loss, b.loss, 1e-10 * std::abs(b.loss)) << "beta " << beta << " chunk " << chunk;
      EXPECT_LT(rel(a.dh, b.dh), 1e-10) << "beta " << beta << " chunk " << chunk;
      EXPECT_LT(rel(a.dw, b.dw), 1e-10) << "beta " << beta << " chunk " << chunk;
      EXPECT_GT(b.dh.abs().max().item<double>(), 1e-3);  // a gradient worth comparing
    }
}

TEST(ChunkedLoss, CrossEntropyMatchesAutogradFloat64) {
  Case c = make_case(torch::kDouble, 17, 16, 50, 1);
  c.h_t = c.w_t = torch::Tensor();  // cross-entropy has no teacher
  for (int64_t chunk : {1, 5, 0}) {
    Grads a = chunked(c, false, 0, chunk, 0.25), b = reference(c, false, 0, 0.25);
    EXPECT_NEAR(a.loss, b.loss, 1e-10 * std::abs(b.loss));
    EXPECT_LT(rel(a.dh, b.dh), 1e-10);
    EXPECT_LT(rel(a.dw, b.dw), 1e-10);
  }
}

TEST(ChunkedLoss, Float32WithinTolerance) {
  const Case c = make_case(torch::kFloat, 40, 32, 211, 2);
  for (double beta : {0.0, 0.5, 1.0}) {
    Grads a = chunked(c, true, beta, 8, 1.0), b = reference(c, true, beta, 1.0);
    EXPECT_NEAR(a.loss, b.loss, 1e-5 * std::abs(b.loss)) << beta;
    EXPECT_LT(rel(a.dh, b.dh), 1e-5) << beta;
    EXPECT_LT(rel(a.dw, b.dw), 1e-5) << beta;
  }
}

TEST(ChunkedLoss, EndpointsAreExactKlDivergences) {
  // Independent float64 formulas: β = 0 is KL(T‖S), β = 1 is KL(S‖T), summed over counted tokens.
  const Case c = make_case(torch::kDouble, 9, 12, 31, 3);
  torch::Tensor s = torch::log_softmax(torch::mm(c.h_s, c.w_s.t()), -1);
  torch::Tensor t = torch::log_softmax(torch::mm(c.h_t, c.w_t.t()), -1);
  torch::Tensor counted = (c.targets != kIgnore).to(torch::kDouble);
  const double fwd = ((t.exp() * (t - s)).sum(-1) * counted).sum().item<double>();
  const double rev = ((s.exp() * (s - t)).sum(-1) * counted).sum().item<double>();
  EXPECT_NEAR(chunked(c, true, 0.0, 4, 1.0).loss, fwd, 1e-12 * fwd);
  EXPECT_NEAR(chunked(c, true, 1.0, 4, 1.0).loss, rev, 1e-12 * rev);
  // Every β: positive for different distributions, zero for identical ones.
  EXPECT_GT(chunked(c, true, 0.5, 4, 1.0).loss, 0);
  Case same = c;
  same.h_t = c.h_s;
  same.w_t = c.w_s;
  for (double beta : {0.0, 0.5, 1.0}) EXPECT_NEAR(chunked(same, true, beta, 4, 1.0).loss, 0, 1e-12);
}

TEST(ChunkedLoss, NoCountedTokensGivesZero) {
  Case c = make_case(torch::kDouble);
  c.targets.fill_(kIgnore);
  Grads a = chunked(c, true, 0.5, 4, 1.0);
  EXPECT_EQ(a.loss, 0.0);
  EXPECT_EQ(a.dh.abs().max().item<double>(), 0.0);
}

TEST(ChunkedLoss, FrozenOutputWeightGetsNoGradient) {
  const Case c = make_case(torch::kDouble);
  torch::Tensor h = c.h_s.clone().requires_grad_(true);
  LossOptions o;
  o.gkd = true;
  chunked_linear_loss(h, c.w_s, c.targets, c.h_t, c.w_t, o).backward();
  EXPECT_TRUE(h.grad().defined());
  EXPECT_FALSE(c.w_s.grad().defined());
}

TEST(ChunkedLoss, LigerChunkRule) {
  // Liger's fused_linear_cross_entropy comment: BT=16384, V=32000, H=4096 -> chunk 2048.
  EXPECT_EQ(default_loss_chunk(16384, 32000, 4096), 2048);
  // Qwen2.5-7B at 8k tokens: ceil(152064/3584) = 43 -> next_pow2(ceil(8192/43) = 191) = 256.
  EXPECT_EQ(default_loss_chunk(8192, 152064, 3584), 256);
  EXPECT_EQ(default_loss_chunk(1, 152064, 3584), 1);
}

TEST(ChunkedLoss, BadInputsAreRefused) {
  const Case c = make_case(torch::kDouble);
  LossOptions o;
  o.gkd = true;
  o.beta = 1.5;
  EXPECT_THROW(chunked_linear_loss(c.h_s, c.w_s, c.targets, c.h_t, c.w_t, o), std::exception);
  o.beta = 0.5;
  EXPECT_THROW(chunked_linear_loss(c.h_s, c.w_s.t(), c.targets, c.h_t, c.w_t, o), std::exception);
  EXPECT_THROW(chunked_linear_loss(c.h_s, c.w_s, c.targets, torch::Tensor(), c.w_t, o), std::exception);
}

}  // namespace
}  // namespace yz::train
