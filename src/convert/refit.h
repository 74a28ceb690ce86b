// Closed-form refits of one converted layer against the original layer (issue 17 item 2), float64
// least squares with a ridge towards the current weights, streamed over the calibration windows
// of one layer (the original model's inputs x_o give the targets; the fit inputs x_f are the same
// windows from the original or from the converted prefix):
//   1. converted inputs only — every input projection (q_proj or q_a_proj, kv_a_proj_with_mqa,
//      biases as an extra input column) re-estimated to reproduce on x_f what it computed on x_o:
//      W' = W·X_of·(X_ff + λI)⁻¹ with X_of = Σ x̂_o x̂_fᵀ. This is the least-squares refit of the
//      query and of kv_b's key block against the original projections: after it, regressing the
//      original keys on the refitted latent reproduces the factorization's up-projection
//      (both factorizations' up-projections are that regression), so with original inputs,
//      where X_of = X_ff, the step is the identity and is skipped.
//   2. kv_b's value block, per head: W_UV,h = argmin Σ ‖W c̄_h − o_h‖² + λ‖W − W⁰‖², where
//      c̄_h = Σ_t a'_{h,t} c_t are the converted layer's attention-weighted latents (its own
//      softmax, so the fit sees the logit errors) and o_h the original head's output;
//   3. o_proj: argmin Σ ‖W o' − y‖² + λ‖W − W⁰‖², o' the converted heads' outputs after step 2
//      and y the original attention output (mixes heads, which step 2 cannot). With r < D each
//      head's output spans at most r dimensions: the other D − r per head keep o_proj as it was.
// λ = ridge · mean diagonal of the Gram, raised (with a warning) when the Gram is ill-conditioned.
// The logits themselves are not a least-squares target here: with the causal mask the normal
// equations of kv_b's key block have (D·r)² unknowns per head (≈ 4·10⁹ for a 7B layer);
// `--local-steps` fits them by gradient descent instead.
#pragma once

#include <torch/torch.h>

#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "convert/activations.h"
#include "convert/layer_fit.h"

namespace yz {

// W = argmin ‖W·Xᵀ − Yᵀ‖² + λ‖W − prior‖² given gram = XᵀX [n, n] and cross = YᵀX [m, n]:
// (cross + λ·prior)·(gram + λI)⁻¹, float64. λ = ridge · mean(diag(gram)), at least
// λ_max(gram) / kMaxCondition: directions the data never spans keep the prior. More than
// `null_dims` eigenvalues below that floor (a nullity the caller does not expect from the
// structure of X) adds a warning naming `what`.
torch::Tensor ridge_solve(const torch::Tensor& gram, const torch::Tensor& cross,
                          const torch::Tensor& prior, double ridge, const std::string& what,
                          std::vector<std::string>& warnings, int64_t null_dims = 0);

// Refits `attn` (native-form tensors of converted layer `layer` of `mla`, float64) in place.
// `original` and `fit` stream the same windows (the same object for original inputs); `gqa` is
// the original layer. Returns the report (relative attention-output error before and after).
nlohmann::ordered_json refit_layer(std::map<std::string, torch::Tensor>& attn,
                                   const ModelConfig& mla, int64_t layer, DecoderLayerImpl& gqa,
                                   ActivationStream& original, ActivationStream& fit,
                                   const FitOptions& options);

// Relative attention-output error Σ‖attn_converted(x_f) − attn_original(x_o)‖² / Σ‖attn_original‖²
// over every window (the objective of the local distillation; reported by both fits).
double attention_error(MlaAttentionImpl& converted, DecoderLayerImpl& gqa,
                       ActivationStream& original, ActivationStream& fit);

}  // namespace yz
