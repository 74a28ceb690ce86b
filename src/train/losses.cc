// Chunked fused-linear GKD / cross-entropy and their autograd references (see losses.h).
//
// Closed-form gradients with respect to the student logits z (s = log_softmax(z), p = exp(s);
// t, q the teacher's), per token, derived in training.md §1.3 and checked against autograd by
// tests/train/losses_test.cc:
//   CE:        dz = p − onehot(target)
//   β = 0:     L = Σ q(t − s),            dz = p − q
//   β = 1:     L = Σ p(s − t),            dz = p⊙(s − t) − p·L
//   0 < β < 1: m = log(β·q + (1−β)·p),    L = β·Σ q(t − m) + (1−β)·Σ p(s − m),
//              dz = (1−β)·[p⊙(s − m) − p·Σ p(s − m)]   (the terms through m cancel)
#include "train/losses.h"

#include <cmath>

#include "train/data.h"
#include "util/error.h"

namespace yz::train {

namespace {

// Per-token loss [c] and scaled gradient dz [c, V] (float32) of one chunk of student logits z_s.
std::pair<torch::Tensor, torch::Tensor> chunk_loss(const torch::Tensor& z_s, const torch::Tensor& z_t,
                                                   const torch::Tensor& target,
                                                   const LossOptions& o) {
  torch::Tensor s = torch::log_softmax(z_s, -1);
  torch::Tensor p = s.exp();
  if (!o.gkd) {
    torch::Tensor loss = -s.gather(1, target.unsqueeze(1)).squeeze(1);
    p.scatter_add_(1, target.unsqueeze(1), torch::full({p.size(0), 1}, -1.0f, p.options()));
    return {loss, p};
  }
  torch::Tensor t = torch::log_softmax(z_t, -1);
  if (o.beta == 0.0) {
    torch::Tensor q = t.exp();
    torch::Tensor loss = (q * (t - s)).sum(-1);
    return {loss, p.sub_(q)};
  }
  if (o.beta == 1.0) {
    torch::Tensor d = s - t;
    torch::Tensor loss = (p * d).sum(-1);
    return {loss, p * d.sub_(loss.unsqueeze(1))};
  }
  const double b = o.beta;
  torch::Tensor m = torch::logaddexp(s + std::log1p(-b), t + std::log(b));
  torch::Tensor g = p * (s - m);                   // [c, V]
  torch::Tensor g_sum = g.sum(-1, /*keepdim=*/true);
  torch::Tensor loss = b * (t.exp() * (t - m)).sum(-1) + (1 - b) * g_sum.squeeze(1);
  return {loss, g.sub_(p * g_sum).mul_(1 - b)};
}

// The chunk loop: forward produces the loss and both gradients (Liger computes them in the
// forward pass too); backward only scales them by grad_output.
struct ChunkedLinearLoss : torch::autograd::Function<ChunkedLinearLoss> {
  static torch::autograd::variable_list forward(torch::autograd::AutogradContext* ctx,
                                                const torch::Tensor& h_s, const torch::Tensor& w_s,
                                                const torch::Tensor& targets,
                                                const torch::Tensor& h_t, const torch::Tensor& w_t,
                                                LossOptions o) {
    const int64_t V = w_s.size(0), H = w_s.size(1);
    // float32 logits and gradients for 16/32-bit inputs (Liger upcasts each chunk); float64 stays
    // float64 (the exactness tests).
    const at::ScalarType acc = h_s.scalar_type() == torch::kDouble ? torch::kDouble : torch::kFloat;
    torch::NoGradGuard no_grad;
    torch::Tensor rows = (targets != kIgnore).nonzero().squeeze(1);  // [n] counted tokens
    const int64_t n = rows.size(0);
    const int64_t chunk = o.chunk > 0 ? o.chunk : default_loss_chunk(n, V, H);
    torch::Tensor grad_h = torch::zeros_like(h_s);
    torch::Tensor grad_w;  // float32 accumulator, only when the output weight trains
    if (w_s.requires_grad()) grad_w = torch::zeros({V, H}, w_s.options().dtype(acc));
    torch::Tensor total = torch::zeros({}, h_s.options().dtype(torch::kDouble));
    for (int64_t begin = 0; begin < n; begin += chunk) {
      torch::Tensor idx = rows.narrow(0, begin, std::min(chunk, n - begin));
      torch::Tensor x = h_s.index_select(0, idx);                           // [c, H]
      torch::Tensor z_s = torch::mm(x, w_s.t()).to(acc);                    // [c, V]
      torch::Tensor z_t;
      if (o.gkd) z_t = torch::mm(h_t.index_select(0, idx), w_t.t()).to(acc);
      auto [loss, dz] = chunk_loss(z_s, z_t, targets.index_select(0, idx), o);
      total += loss.to(torch::kDouble).sum();
      dz.mul_(o.scale);
      torch::Tensor dz_c = dz.to(x.scalar_type());
      grad_h.index_copy_(0, idx, torch::mm(dz_c, w_s));
      if (grad_w.defined()) grad_w.add_(torch::mm(dz_c.t(), x).to(acc));
    }
    ctx->save_for_backward({grad_h, grad_w.defined() ? grad_w.to(w_s.scalar_type()) : grad_w});
    return {(total * o.scale).to(acc)};
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grad_out) {
    auto saved = ctx->get_saved_variables();
    torch::Tensor g = grad_out[0];
    torch::Tensor gh = saved[0] * g.to(saved[0].scalar_type());
    torch::Tensor gw = saved[1].defined() ? saved[1] * g.to(saved[1].scalar_type()) : torch::Tensor();
    return {gh, gw, torch::Tensor(), torch::Tensor(), torch::Tensor(), torch::Tensor()};
  }
};

}  // namespace

int64_t default_loss_chunk(int64_t tokens, int64_t vocab, int64_t hidden) {
  const int64_t inc = (vocab + hidden - 1) / hidden;
  const int64_t want = std::max<int64_t>(1, (tokens + inc - 1) / inc);
  int64_t chunk = 1;
  while (chunk < want) chunk <<= 1;
  return chunk;
}

torch::Tensor chunked_linear_loss(const torch::Tensor& h_s, const torch::Tensor& w_s,
                                  const torch::Tensor& targets, const torch::Tensor& h_t,
                                  const torch::Tensor& w_t, const LossOptions& o) {
  YZ_CHECK(h_s.dim() == 2 && w_s.dim() == 2 && h_s.size(1) == w_s.size(1),
           "loss: student hidden [N, H] and output weight [V, H] disagree: ", h_s.sizes(), " vs ",
           w_s.sizes());
  YZ_CHECK(targets.dim() == 1 && targets.size(0) == h_s.size(0), "loss: targets must be [N]");
  YZ_CHECK(o.beta >= 0 && o.beta <= 1, "beta ", o.beta, " is outside [0, 1]");
  if (o.gkd)
    YZ_CHECK(h_t.defined() && w_t.defined() && h_t.sizes() == h_s.sizes() &&
                 w_t.size(0) == w_s.size(0),
             "loss: teacher hidden states / output weight do not match the student's");
  // Autograd records every tensor argument, so cross-entropy passes empty stand-ins.
  const torch::Tensor none = torch::empty({0}, h_s.options());
  return ChunkedLinearLoss::apply(h_s, w_s, targets, o.gkd ? h_t : none, o.gkd ? w_t : none, o)[0];
}

torch::Tensor gkd_loss_reference(const torch::Tensor& student_logits,
                                 const torch::Tensor& teacher_logits, const torch::Tensor& targets,
                                 double beta) {
  const at::ScalarType acc = student_logits.scalar_type() == torch::kDouble ? torch::kDouble
                                                                            : torch::kFloat;
  torch::Tensor s = torch::log_softmax(student_logits.to(acc), -1);
  torch::Tensor t = torch::log_softmax(teacher_logits.to(acc), -1);
  torch::Tensor jsd;  // [N, V]
  const auto none = at::Reduction::None;
  if (beta == 0.0) {
    jsd = torch::kl_div(s, t, none, /*log_target=*/true);
  } else if (beta == 1.0) {
    jsd = torch::kl_div(t, s, none, /*log_target=*/true);
  } else {
    torch::Tensor mix = torch::logsumexp(torch::stack({s + std::log1p(-beta), t + std::log(beta)}), 0);
    jsd = beta * torch::kl_div(mix, t, none, true) + (1 - beta) * torch::kl_div(mix, s, none, true);
  }
  return jsd.sum(-1).masked_select(targets != kIgnore).sum();
}

torch::Tensor ce_loss_reference(const torch::Tensor& logits, const torch::Tensor& targets) {
  const at::ScalarType acc = logits.scalar_type() == torch::kDouble ? torch::kDouble : torch::kFloat;
  return torch::nll_loss(torch::log_softmax(logits.to(acc), -1), targets, {}, at::Reduction::Sum,
                         kIgnore);
}

}  // namespace yz::train
