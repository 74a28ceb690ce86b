// Closed-form refits (see refit.h).
#include "convert/refit.h"

#include <chrono>
#include <sstream>

#include "util/error.h"

namespace yz {

namespace {

// Calls fn(x_o, x_f) for every batch of windows; x_f is x_o when both come from one stream.
template <typename Fn>
void for_batches(ActivationStream& original, ActivationStream& fit, DecoderLayerImpl& gqa, Fn fn) {
  YZ_ASSERT(original.windows() == fit.windows(), "refit streams hold different windows");
  for (int64_t s = 0; s < original.windows(); s += original.batch()) {
    torch::Tensor idx = torch::arange(s, std::min(s + original.batch(), original.windows()),
                                      torch::kLong);
    torch::Tensor xo = original.input(gqa, idx);
    fn(xo, &fit == &original ? xo : fit.input(gqa, idx));
  }
}

torch::Tensor rows(const torch::Tensor& x, bool ones) {  // [.., d] -> [N, d (+1)] float64
  torch::Tensor r = x.reshape({-1, x.size(-1)}).to(torch::kDouble);
  return ones ? torch::cat({r, torch::ones({r.size(0), 1}, r.options())}, 1) : r;
}

// Step 1 of refit.h: input projections reproduce on x_f what they computed on x_o.
void refit_input_projections(std::map<std::string, torch::Tensor>& attn, DecoderLayerImpl& gqa,
                             ActivationStream& original, ActivationStream& fit, double ridge,
                             std::vector<std::string>& warnings) {
  torch::Tensor x_ff, x_of;  // [d+1, d+1]: the last row / column is the bias input
  torch::NoGradGuard g;
  for_batches(original, fit, gqa, [&](const torch::Tensor& xo, const torch::Tensor& xf) {
    torch::Tensor o = rows(xo, true), f = rows(xf, true);
    torch::Tensor ff = f.t().mm(f), of = o.t().mm(f);
    x_ff = x_ff.defined() ? x_ff + ff : ff;
    x_of = x_of.defined() ? x_of + of : of;
  });
  const int64_t d = x_ff.size(0) - 1;
  for (const char* name : {"q_proj", "q_a_proj", "kv_a_proj_with_mqa"}) {
    if (!attn.count(std::string(name) + ".weight")) continue;
    torch::Tensor& w = attn.at(std::string(name) + ".weight");
    const bool bias = attn.count(std::string(name) + ".bias") > 0;
    const int64_t n = bias ? d + 1 : d;
    torch::Tensor wb = bias ? torch::cat({w, attn.at(std::string(name) + ".bias").unsqueeze(1)}, 1) : w;
    torch::Tensor gram = x_ff.narrow(0, 0, n).narrow(1, 0, n).to(w.device());
    torch::Tensor cross = wb.mm(x_of.narrow(0, 0, n).narrow(1, 0, n).to(w.device()));
    torch::Tensor fitted = ridge_solve(gram, cross, wb, ridge, std::string(name) + " inputs", warnings);
    w = fitted.narrow(1, 0, d).contiguous();
    if (bias) attn[std::string(name) + ".bias"] = fitted.select(1, d).contiguous();
  }
}

}  // namespace

torch::Tensor ridge_solve(const torch::Tensor& gram, const torch::Tensor& cross,
                          const torch::Tensor& prior, double ridge, const std::string& what,
                          std::vector<std::string>& warnings, int64_t null_dims) {
  const int64_t n = gram.size(0);
  torch::Tensor g = 0.5 * (gram + gram.t());
  torch::Tensor ev = torch::linalg_eigvalsh(g, "L");  // ascending
  const double top = ev[n - 1].item<double>(), low = ev[0].item<double>();
  if (!(top > 0) || !std::isfinite(top)) {
    warnings.push_back(what + ": the Gram is zero or not finite; weights kept");
    return prior.clone();
  }
  double lambda = ridge * g.diagonal().mean().item<double>();
  const double floor = top / kMaxCondition;
  if (low < floor) {
    const int64_t below = (ev < floor).sum().item<int64_t>();
    if (below > null_dims) {
      std::ostringstream s;
      s << what << ": ill-conditioned Gram (eigenvalues " << top << " .. " << low << ", " << below
        << " of " << n << " below " << floor << "), regularised with lambda " << std::max(lambda, floor);
      warnings.push_back(s.str());
    }
    lambda = std::max(lambda, floor);
  }
  torch::Tensor a = g + lambda * torch::eye(n, g.options());
  torch::Tensor rhs = (cross + lambda * prior.to(cross.options())).t();  // [n, m]
  return torch::cholesky_solve(rhs, torch::linalg_cholesky(a)).t().contiguous();
}

double attention_error(MlaAttentionImpl& converted, DecoderLayerImpl& gqa,
                       ActivationStream& original, ActivationStream& fit) {
  torch::NoGradGuard g;
  auto& a = *dynamic_cast<GqaAttentionImpl*>(gqa.self_attn.get());
  double err = 0, norm = 0;
  const ForwardContext& ctx = original.context();
  for_batches(original, fit, gqa, [&](const torch::Tensor& xo, const torch::Tensor& xf) {
    torch::Tensor y = a.forward(xo, ctx).to(torch::kDouble);
    err += (converted.forward(xf, ctx).to(torch::kDouble) - y).pow(2).sum().item<double>();
    norm += y.pow(2).sum().item<double>();
  });
  return norm > 0 ? err / norm : 0.0;
}

nlohmann::ordered_json refit_layer(std::map<std::string, torch::Tensor>& attn,
                                   const ModelConfig& mla, int64_t l, DecoderLayerImpl& gqa,
                                   ActivationStream& original, ActivationStream& fit,
                                   const FitOptions& o) {
  const auto t0 = std::chrono::steady_clock::now();
  torch::NoGradGuard no_grad;
  auto& a = *dynamic_cast<GqaAttentionImpl*>(gqa.self_attn.get());
  const torch::Device dev = a.q_proj->weight.device();
  const torch::ScalarType dtype = a.q_proj->weight.scalar_type();
  const ForwardContext& ctx = original.context();
  std::vector<std::string> warnings;
  std::vector<std::string> steps;
  if (&fit != &original) {
    refit_input_projections(attn, gqa, original, fit, o.ridge, warnings);
    steps.push_back("input_projections");
  }
  // Step 2: per-head value block against the original heads' outputs.
  const int64_t H = a.heads, D = a.head_dim;
  auto conv = mla_attention_module(mla, l, attn, dev, dtype);
  torch::Tensor c_gram, o_cross;  // [H, r, r], [H, D, r]
  for_batches(original, fit, gqa, [&](const torch::Tensor& xo, const torch::Tensor& xf) {
    torch::Tensor target = a.head_outputs(xo, ctx).to(torch::kDouble);      // [B,H,T,D]
    torch::Tensor lat = conv->latent_outputs(xf, ctx).to(torch::kDouble);   // [B,H,T,r]
    torch::Tensor cc = torch::einsum("bhtr,bhts->hrs", {lat, lat});
    torch::Tensor oc = torch::einsum("bhtd,bhtr->hdr", {target, lat});
    c_gram = c_gram.defined() ? c_gram + cc : cc;
    o_cross = o_cross.defined() ? o_cross + oc : oc;
  });
  torch::Tensor& kvb = attn.at("kv_b_proj.weight");  // [H·2D, r]: per head k_nope rows, v rows
  for (int64_t h = 0; h < H; ++h) {
    torch::Tensor rows_v = kvb.narrow(0, h * 2 * D + D, D);
    rows_v.copy_(ridge_solve(c_gram[h].to(kvb.device()), o_cross[h].to(kvb.device()), rows_v,
                             o.ridge, "kv_b_proj value block of head " + std::to_string(h),
                             warnings));
  }
  steps.push_back("value_block");
  // Step 3: o_proj against the original attention output, on the refitted heads.
  conv = mla_attention_module(mla, l, attn, dev, dtype);
  torch::Tensor h_gram, y_cross;  // [H·D, H·D], [hidden, H·D]
  for_batches(original, fit, gqa, [&](const torch::Tensor& xo, const torch::Tensor& xf) {
    torch::Tensor y = a.forward(xo, ctx).to(torch::kDouble);
    y = y.reshape({-1, y.size(-1)});
    torch::Tensor heads = conv->head_outputs(xf, ctx).transpose(1, 2).to(torch::kDouble);
    heads = heads.reshape({y.size(0), -1});
    torch::Tensor hh = heads.t().mm(heads), yh = y.t().mm(heads);
    h_gram = h_gram.defined() ? h_gram + hh : hh;
    y_cross = y_cross.defined() ? y_cross + yh : yh;
  });
  torch::Tensor& wo = attn.at("o_proj.weight");
  const int64_t r = conv->rank;
  wo = ridge_solve(h_gram.to(wo.device()), y_cross.to(wo.device()), wo, o.ridge, "o_proj",
                   warnings, H * std::max<int64_t>(0, D - r));
  steps.push_back("o_proj");
  return {{"steps", steps}, {"warnings", warnings},
          {"seconds", std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count()}};
}

}  // namespace yz
