// How a converted layer's attention weights are chosen (issue 17), shared by the streamed
// converter and the adaptive planner so that plans are profiled with the method that converts:
//   factorization  the latent basis: TransMLA's balanced-KV PCA or the output-aware whitened PCA
//                  (factorization.h), from per-layer statistics accumulated here;
//   refit          closed-form float64 least squares against the original layer (refit.h);
//   local_steps    layer-local distillation of the attention weights (local_fit.h).
// Refits and distillation read each layer's inputs from the original model (teacher inputs) or
// from the converted prefix (`converted`: the inputs the layer will see once converted).
#pragma once

#include <torch/torch.h>

#include <map>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "convert/activations.h"
#include "convert/factorization.h"
#include "model/attention.h"

namespace yz {

enum class Factorization { kBalancedPca, kWhitened };
const char* factorization_name(Factorization f);             // "bkv" / "whitened"
Factorization parse_factorization(const std::string& name);  // usage error otherwise

enum class FitInputs { kOriginal, kConverted };
const char* fit_inputs_name(FitInputs i);            // "original" / "converted"
FitInputs parse_fit_inputs(const std::string& name);

struct FitOptions {
  Factorization factorization = Factorization::kBalancedPca;
  bool refit = false;          // closed-form refits of kv_b (value block), o_proj, and with
                               // converted inputs q_proj and kv_a (refit.h)
  int64_t local_steps = 0;     // Adam steps of layer-local distillation per layer (0: none)
  FitInputs inputs = FitInputs::kOriginal;
  double local_lr = 3e-3;      // Adam step relative to each tensor's RMS
  int64_t local_windows = 0;   // calibration windows per step (0: as many as fit 2048 tokens)
  double ridge = 1e-6;         // least-squares regularisation, relative to the Gram's mean diagonal
  uint64_t seed = 42;          // window order of the local steps

  bool needs_queries() const { return factorization == Factorization::kWhitened; }
  bool needs_data() const { return refit || local_steps > 0; }  // a pass beyond the Grams
  std::string key() const;  // every setting that changes the weights (profile cache keys)
};

// Statistics one layer's factorization needs, summed over calibration inputs.
struct KvStats {
  torch::Tensor kv_gram;  // [2·G·D, 2·G·D] float64: Σ [k, v]ᵀ[k, v] (k_proj, v_proj, biases in)
  torch::Tensor q_grams;  // [G, D, D] float64: Σ_{h in group j} q_h q_hᵀ (whitened only)
  // x: attention inputs [b, T, hidden] (after input_layernorm).
  void add(GqaAttentionImpl& attn, const torch::Tensor& x, bool queries);
  KvStats on(const torch::Device& device) const;  // a copy on `device`
};

// The latent factors of a layer converted with rotation P [G·D, G·D], d_r and rank r.
LatentFactors factorize(const KvStats& stats, const torch::Tensor& rotation,
                        const GqaAttentionImpl& attn, int64_t rope_dim, int64_t rank,
                        double balance, Factorization method);

// The attention module of converted layer `layer` of `mla` with the tensors `attn` (local names,
// e.g. "kv_b_proj.weight") on `device` in `dtype`, for refits and distillation.
std::shared_ptr<MlaAttentionImpl> mla_attention_module(const ModelConfig& mla, int64_t layer,
                                                       const std::map<std::string, torch::Tensor>& attn,
                                                       const torch::Device& device,
                                                       torch::ScalarType dtype);

// Fits the native-form tensors `attn` of converted layer `layer` in place: closed-form refits,
// then local distillation, as `options` asks. `original` streams the original model's inputs of
// the layer, `inputs` the fit inputs (the same object for original inputs). Returns the refit and
// distillation reports, any regularisation warnings and, when `measure`, the relative
// attention-output error after the factorization and after each fit (refit.h: attention_error;
// one forward pass each).
nlohmann::ordered_json fit_layer(std::map<std::string, torch::Tensor>& attn, const ModelConfig& mla,
                                 int64_t layer, DecoderLayerImpl& gqa, ActivationStream& original,
                                 ActivationStream& inputs, const FitOptions& options,
                                 bool measure = true);

}  // namespace yz
