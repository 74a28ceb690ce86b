// Latent factorizations (see factorization.h).
#include "convert/factorization.h"

#include <algorithm>
#include <cmath>
#include <sstream>

#include "util/error.h"

namespace yz {

std::pair<torch::Tensor, torch::Tensor> eigh_desc(const torch::Tensor& m) {
  auto [values, vectors] = torch::linalg_eigh(0.5 * (m + m.t()), "L");
  return {values.flip(0), vectors.flip(1)};
}

torch::Tensor joint_gram(const torch::Tensor& g, const torch::Tensor& p, int64_t d_r) {
  const int64_t GD = p.size(0);
  YZ_ASSERT(g.size(0) == 2 * GD, "kv Gram has the wrong size");
  torch::Tensor pn = p.narrow(1, d_r, GD - d_r).to(g.options());
  torch::Tensor gk = g.narrow(0, 0, GD).narrow(1, 0, GD);
  torch::Tensor gkv = pn.t().mm(g.narrow(0, 0, GD).narrow(1, GD, GD));
  return torch::cat({torch::cat({pn.t().mm(gk).mm(pn), gkv}, 1),
                     torch::cat({gkv.t(), g.narrow(0, GD, GD).narrow(1, GD, GD)}, 1)}, 0);
}

namespace {

// PCA of an already weighted Gram g = S Σ S (S = diag(scale) or a whitening matrix); fills the
// energy and per-block residuals (diag(g) − U_r²·λ_r: O(n·r), no n³ products).
void pca_in_metric(const torch::Tensor& g, int64_t nk, int64_t rank, LatentFactors& out,
                   torch::Tensor& basis) {
  auto [values, vectors] = eigh_desc(g);
  basis = vectors.narrow(1, 0, rank).contiguous();
  torch::Tensor top = values.narrow(0, 0, rank);
  out.energy_kept = top.sum().item<double>() / std::max(values.sum().item<double>(), 1e-300);
  torch::Tensor diag = g.diagonal();
  torch::Tensor residual = diag - basis.pow(2).mv(top);
  const int64_t nv = g.size(0) - nk;
  out.key_error = nk == 0 ? 0.0
                          : residual.narrow(0, 0, nk).sum().item<double>() /
                                std::max(diag.narrow(0, 0, nk).sum().item<double>(), 1e-300);
  out.value_error = residual.narrow(0, nk, nv).sum().item<double>() /
                    std::max(diag.narrow(0, nk, nv).sum().item<double>(), 1e-300);
}

// Symmetric square root of a PSD metric and its inverse; eigenvalues below λ_max / kMaxCondition
// are raised to that floor (the inverse must stay finite for up = S⁻¹ V_r).
std::pair<torch::Tensor, torch::Tensor> sqrt_and_inverse(const torch::Tensor& m, const char* what,
                                                         std::vector<std::string>& warnings) {
  if (m.size(0) == 0) return {m, m};  // no NoPE keys (d_r = G·D)
  auto [values, vectors] = eigh_desc(m);
  const double top = values[0].item<double>();
  if (!(top > 0) || !std::isfinite(top)) {
    warnings.push_back(std::string(what) + " metric is zero or not finite; used the identity");
    torch::Tensor eye = torch::eye(m.size(0), m.options());
    return {eye, eye};
  }
  const double floor = top / kMaxCondition, low = values[values.size(0) - 1].item<double>();
  if (low < floor) {
    std::ostringstream s;
    s << what << " metric is ill-conditioned (eigenvalues " << top << " .. " << low
      << "); regularised: eigenvalues below " << floor << " raised to it";
    warnings.push_back(s.str());
  }
  torch::Tensor root = values.clamp_min(floor).sqrt();
  return {vectors.mm(torch::diag(root)).mm(vectors.t()),
          vectors.mm(torch::diag(1.0 / root)).mm(vectors.t())};
}

}  // namespace

LatentFactors balanced_kv_pca(const torch::Tensor& gram, int64_t kv_dim, int64_t d_r, int64_t rank,
                              double balance) {
  const int64_t nk = kv_dim - d_r, n = nk + kv_dim;
  YZ_ASSERT(gram.size(0) == n, "joint Gram has the wrong size");
  torch::Tensor norms = gram.diagonal().clamp_min(0).sqrt();  // column L2 norms over tokens
  LatentFactors out;
  // TransMLA's code: mean key-nope column norm over mean value column norm, skipping the first
  // d_r value channels (a harmless quirk we keep so results compare).
  const double k_mean = nk > 0 ? norms.narrow(0, 0, nk).mean().item<double>() : 0.0;
  const double v_mean = norms.narrow(0, nk + d_r, kv_dim - d_r).mean().item<double>();
  out.alpha = (k_mean > 0 && v_mean > 0) ? k_mean / (v_mean * balance) : 1.0;
  torch::Tensor scale = torch::ones({n}, gram.options());
  scale.narrow(0, 0, nk).fill_(1.0 / out.alpha);
  torch::Tensor basis;
  pca_in_metric(gram * scale.unsqueeze(0) * scale.unsqueeze(1), nk, rank, out, basis);
  out.down = basis.t() * scale.unsqueeze(0);
  out.up = basis / scale.unsqueeze(1);
  return out;
}

OutputMetric output_metric(const torch::Tensor& q_grams, const torch::Tensor& p, int64_t d_r,
                           const torch::Tensor& o_proj, int64_t heads) {
  const int64_t G = q_grams.size(0), D = q_grams.size(1), GD = G * D, g = heads / G;
  torch::Tensor pd = p.to(q_grams.options());
  torch::Tensor key = torch::zeros({GD - d_r, GD - d_r}, q_grams.options());
  torch::Tensor value = torch::zeros({GD, GD}, q_grams.options());
  torch::Tensor wo = o_proj.to(q_grams.options());
  for (int64_t j = 0; j < G; ++j) {
    // Head h of group j reads the rotated NoPE keys through q̃_h = P_j,nopeᵀ q_h.
    torch::Tensor pjn = pd.narrow(0, j * D, D).narrow(1, d_r, GD - d_r);
    key += pjn.t().mm(q_grams[j]).mm(pjn);
    torch::Tensor wj = wo.narrow(1, j * g * D, g * D).reshape({-1, g, D});  // [hidden, g, D]
    value.narrow(0, j * D, D).narrow(1, j * D, D).copy_(torch::einsum("xhd,xhe->de", {wj, wj}));
  }
  return {key, value};
}

LatentFactors whitened_pca(const torch::Tensor& gram, const OutputMetric& metric, int64_t kv_dim,
                           int64_t d_r, int64_t rank, double balance) {
  const int64_t nk = kv_dim - d_r, n = nk + kv_dim;
  YZ_ASSERT(gram.size(0) == n && metric.key.size(0) == nk && metric.value.size(0) == kv_dim,
            "whitened PCA: Gram and metric sizes disagree");
  LatentFactors out;
  auto [sk, sk_inv] = sqrt_and_inverse(metric.key, "query (key-logit)", out.warnings);
  auto [sv, sv_inv] = sqrt_and_inverse(metric.value, "o_proj (value-output)", out.warnings);
  torch::Tensor s = torch::zeros({n, n}, gram.options()), s_inv = torch::zeros_like(s);
  s.narrow(0, 0, nk).narrow(1, 0, nk).copy_(sk);
  s.narrow(0, nk, kv_dim).narrow(1, nk, kv_dim).copy_(sv);
  // Balance as BKV does, in the whitened metric: mean key column norm over mean value column norm.
  torch::Tensor norms = s.mm(gram).mm(s).diagonal().clamp_min(0).sqrt();
  const double k_mean = nk > 0 ? norms.narrow(0, 0, nk).mean().item<double>() : 0.0;
  const double v_mean = norms.narrow(0, nk, kv_dim).mean().item<double>();
  out.alpha = (k_mean > 0 && v_mean > 0) ? k_mean / (v_mean * balance) : 1.0;
  s.narrow(0, 0, nk).narrow(1, 0, nk).div_(out.alpha);
  s_inv.narrow(0, 0, nk).narrow(1, 0, nk).copy_(sk_inv * out.alpha);
  s_inv.narrow(0, nk, kv_dim).narrow(1, nk, kv_dim).copy_(sv_inv);
  torch::Tensor basis;
  pca_in_metric(s.mm(gram).mm(s), nk, rank, out, basis);
  out.down = basis.t().mm(s);
  out.up = s_inv.mm(basis);
  return out;
}

}  // namespace yz
