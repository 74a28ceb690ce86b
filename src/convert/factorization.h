// Latent factorizations of one layer's joint key/value vector z = [k̃_nope, v] (n = (G·D − d_r) +
// G·D coordinates, rotated NoPE keys first): the latent is c = down·z and the layer reads back
// ẑ = up·c. Two objectives, both solved as a PCA of a metric-weighted Gram in float64:
//   balanced_kv_pca  TransMLA's BKV-PCA (mla_conversion.md §3.3–3.4): reconstruct [k̃_nope/α, v];
//   whitened_pca     output-aware (§13.1, SVD-LLM / ASVD-style whitening): minimise the error of
//                    what attention computes from the latent, E‖Σ_q^{1/2} e_k‖² (attention-logit
//                    error over the queries that read those key coordinates) plus
//                    E‖M^{1/2} e_v‖² (value error through o_proj), both halves balanced like BKV.
// With r = n both reproduce z exactly (up·down = I), so the step-1 identities of the converter
// still hold at r = max.
#pragma once

#include <torch/torch.h>

#include <string>
#include <utility>
#include <vector>

namespace yz {

// Eigen-decomposition of a symmetric matrix, eigenvalues descending: {values [n], vectors [n, n]}.
std::pair<torch::Tensor, torch::Tensor> eigh_desc(const torch::Tensor& m);

struct LatentFactors {
  torch::Tensor down;       // [r, n] float64: latent = down · z
  torch::Tensor up;         // [n, r] float64: ẑ = up · latent
  double alpha = 1;         // key/value balance in the factorization's metric (BKV's α)
  double energy_kept = 0;   // Σ top-r eigenvalues / Σ all, in that metric
  double key_error = 0, value_error = 0;  // relative residual energy per block, in that metric
  std::vector<std::string> warnings;      // ill-conditioned metrics that were regularised
};

// The joint Gram Σ z zᵀ [n, n] from the Gram of the unrotated projections Σ [k, v]ᵀ[k, v]
// ([2·G·D, 2·G·D], float64) and the RoRoPE rotation P [G·D, G·D]: Mᵀ Gram M block by block with
// M = blockdiag(P[:, d_r:], I).
torch::Tensor joint_gram(const torch::Tensor& kv_gram, const torch::Tensor& rotation,
                         int64_t rope_dim);

// gram: Σ z zᵀ (unbalanced), float64. BKV: α from the mean key-nope and value column norms.
LatentFactors balanced_kv_pca(const torch::Tensor& gram, int64_t kv_dim, int64_t rope_dim,
                              int64_t rank, double balance);

// What attention does with each block of z, as quadratic forms on the block's error.
struct OutputMetric {
  torch::Tensor key;    // [G·D − d_r, G·D − d_r]: Σ_h E[q̃_h,nope q̃_h,nopeᵀ], rotated NoPE queries
  torch::Tensor value;  // [G·D, G·D]: blockdiag_j Σ_{h in group j} W_o,hᵀ W_o,h
};
// q_grams: [G, D, D] Σ over calibration tokens and the heads h of group j of q_h q_hᵀ (q_proj
// output before RoPE, bias included); o_proj: [hidden, H·D]; rotation: P as above.
OutputMetric output_metric(const torch::Tensor& q_grams, const torch::Tensor& rotation,
                           int64_t rope_dim, const torch::Tensor& o_proj, int64_t heads);

// PCA of S Σ_zz S with S = blockdiag(Σ_q^{1/2}/α, M^{1/2}); down = V_rᵀ S, up = S⁻¹ V_r. A metric
// whose eigenvalues span more than kMaxCondition is floored there (a warning says which).
LatentFactors whitened_pca(const torch::Tensor& gram, const OutputMetric& metric, int64_t kv_dim,
                           int64_t rope_dim, int64_t rank, double balance);
constexpr double kMaxCondition = 1e10;

}  // namespace yz
