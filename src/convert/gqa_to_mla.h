// GQA -> MLA conversion math (mla_conversion.md §3, TransMLA v3): RoRoPE + FreqFold key rotation
// from per-layer key Grams, balanced-KV joint PCA from Grams of the step-1 model, and assembly of
// DeepSeek-layout MLA weights: `native` keeps the Qwen2 biases exactly and needs no latent norm;
// `stock` is what unmodified DeepSeek-V3 runtimes load (no biases, latent RMSNorms present).
#pragma once

#include <torch/torch.h>

#include <map>
#include <optional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "convert/factorization.h"
#include "model/causal_lm.h"

namespace yz {

enum class Target { kNative, kStock };

struct MlaPlan {
  int64_t rope_dim = 0;               // d_r (must divide head_dim), every layer unless rope_dims
  int64_t kv_lora_rank = 0;           // r; 2·G·D − d_r keeps everything (no truncation)
  std::vector<int64_t> freqfold;      // f per layer: multiple of c = D/d_r, divides D/2
  double balance = 1.0;               // β_bkv
  std::optional<int64_t> q_lora_rank; // r_q: low-rank query from a PCA of W_q x (§3.5)
  bool latent_norm = false;           // kv_a_layernorm (+ q_a_layernorm), γ = E[RMS] (§2.4)
  Target target = Target::kNative;    // stock implies latent_norm and drops every bias
  std::vector<int64_t> rope_dims;     // per-layer d_r (budget plans; `native` only), else empty
  std::vector<int64_t> kv_lora_ranks; // per-layer r, else empty
};

const char* target_name(Target t);
Target parse_target(const std::string& name);  // "native" / "stock"
bool has_latent_norm(const MlaPlan& plan);     // latent_norm or the stock target
// The step-1 model of a plan: no truncation (r = max), full-rank query, biases, no norms.
MlaPlan step1_plan(const ModelConfig& gqa, MlaPlan plan);
// FreqFold sizes allowed by the plan's rope_dim: c, 2c, … up to head_dim / 2.
std::vector<int64_t> freqfold_choices(const ModelConfig& gqa, int64_t rope_dim);

// The plan spelled out per layer: a single freqfold value, rope_dim and kv_lora_rank become
// per-layer lists (rope_dims, kv_lora_ranks always filled afterwards; freqfold unless empty).
MlaPlan per_layer_plan(MlaPlan plan, int64_t num_layers);
bool is_uniform(const MlaPlan& plan);  // same d_r and r in every layer (stock: else padded)

// Checks the plan against the model; errors name the flag and the allowed values.
void validate_plan(const ModelConfig& gqa, const MlaPlan& plan);
int64_t max_kv_lora_rank(const ModelConfig& gqa, int64_t rope_dim);  // 2·G·D − d_r

// Σ over tokens of the complex key channels' Gram, [G·D/2, G·D/2] float64: channel (j, i) is
// the rotary pair (K[jD+i], K[jD+D/2+i]); real and imaginary parts are two samples (§3.2 step 3).
torch::Tensor complex_key_gram(const torch::Tensor& keys, int64_t kv_heads, int64_t head_dim);

struct Rotation {
  torch::Tensor p;           // [G·D, G·D] float64 orthogonal: rotated keys = Pᵀ · keys (rows)
  double rope_energy = 0;    // share of key energy in the d_r rope positions
};
// RoRoPE + FreqFold (§3.2): one PCA per group of f adjacent frequencies over all KV heads.
Rotation rorope_rotation(const torch::Tensor& gram, int64_t kv_heads, int64_t head_dim,
                         int64_t rope_dim, int64_t freqfold);

// Stock export of a per-layer plan (issue 17 item 5): layer tensors of rank r and rope width d_r
// (HF local names; latent norm included) padded exactly to the widest layer's r_max, d_max with
// zero rows and columns: rotary pair p moves to pair p·d_max/d_r (same frequency; an error names
// a rope_scaling for which it is not), the query absorbs the softmax scale change
// √((D + d_max)/(D + d_r)), and the latent rows are scaled by √(r_max/r) with γ divided by it so
// kv_a_layernorm's RMS over the zero-padded latent is unchanged, eps included.
std::map<std::string, torch::Tensor> pad_attention(const std::map<std::string, torch::Tensor>& attn,
                                                   const ModelConfig& gqa, int64_t rank,
                                                   int64_t rope_dim, int64_t max_rank,
                                                   int64_t max_rope_dim);

// Config of the converted model (DeepSeek-V3 dense layout + our `native` fields); `source` is the
// GQA config.json, whose rope fields and token ids are carried over verbatim.
nlohmann::ordered_json mla_config_json(const nlohmann::json& source, const ModelConfig& gqa,
                                       const MlaPlan& plan);

// Leading eigenvectors [n, rank] of a PSD Gram (descending), float64: the low-rank query basis
// R_q of §3.5 from the Gram of W_q x over calibration tokens.
torch::Tensor pca_basis(const torch::Tensor& gram, int64_t rank);

// What a layer's export keeps beyond the rotation and the joint PCA.
struct LayerExport {
  const LatentFactors* factors = nullptr;  // nullptr: the step-1 model (latent = z, no truncation)
  torch::Tensor q_basis;          // [H·D, r_q] float64, or undefined for a full-rank query
  bool biases = true;             // false for `stock`: every bias is dropped (§2.4)
};

// MLA attention tensors of one layer (HF names without the layer prefix, e.g. "q_proj.weight"),
// float64 on the GQA weights' device, from the GQA layer's attention module and its rotation.
// Latent norms are not among them: their γ needs the calibration stream (the converter adds
// them).
std::map<std::string, torch::Tensor> mla_attention_tensors(const GqaAttentionImpl& gqa,
                                                           const torch::Tensor& rotation,
                                                           int64_t rope_dim,
                                                           const LayerExport& what);

}  // namespace yz
