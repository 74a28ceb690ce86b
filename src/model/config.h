// ModelConfig: one plain struct parsed from a Hugging Face config.json. Family differences are
// fields, not subclasses (style.md convention 2). GQA families: llama, mistral, qwen2, qwen3;
// MLA family: deepseek_v2 / deepseek_v3 (dense only), including the per-layer extensions our
// converter writes for the `native` target.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "util/fs.h"

namespace yz {

enum class Family { kGqa, kMla };
enum class RopeType { kDefault, kLinear, kLlama3, kYarn };

struct RopeConfig {
  double theta = 10000.0;
  RopeType type = RopeType::kDefault;
  double factor = 1.0;
  // llama3
  double low_freq_factor = 1.0, high_freq_factor = 4.0;
  int64_t original_max_position_embeddings = 0;
  // yarn
  double beta_fast = 32.0, beta_slow = 1.0;
  std::optional<double> mscale, mscale_all_dim, attention_factor;
};

// Per-layer attention dims of an MLA model (uniform unless the converter varied them).
struct MlaLayerDims {
  int64_t kv_lora_rank = 0;      // r: latent width cached per token
  int64_t qk_rope_head_dim = 0;  // d_r: the shared rope key width cached per token
};

struct ModelConfig {
  Family family = Family::kGqa;
  std::string model_type;  // as written: llama, mistral, qwen2, qwen3, deepseek_v2, deepseek_v3
  std::string torch_dtype = "bfloat16";

  int64_t vocab_size = 0;
  int64_t hidden_size = 0;
  int64_t intermediate_size = 0;
  int64_t num_hidden_layers = 0;
  int64_t num_attention_heads = 0;
  int64_t num_key_value_heads = 0;  // GQA: G; MLA: = heads (every head reads the shared latent)
  int64_t head_dim = 0;             // GQA: D
  int64_t max_position_embeddings = 0;
  double rms_norm_eps = 1e-6;
  bool tie_word_embeddings = false;
  bool attention_bias = false;  // q/k/v biases (qwen2: always); MLA: q and kv_a biases
  bool qk_norm = false;         // qwen3 per-head q/k RMSNorm (recognised; not convertible)
  std::optional<int64_t> sliding_window;  // only when the model actually uses it
  RopeConfig rope;
  std::optional<int64_t> bos_token_id;
  std::vector<int64_t> eos_token_ids;

  // MLA
  std::optional<int64_t> q_lora_rank;
  int64_t qk_nope_head_dim = 0;
  int64_t v_head_dim = 0;
  bool qk_latent_layernorm = true;  // kv_a_layernorm (and q_a_layernorm) present; stock: always
  bool rope_interleave = true;
  std::vector<MlaLayerDims> mla_layers;  // [num_hidden_layers]

  // Elements of K/V cache per token over all layers: GQA 2·G·D·L; MLA Σ_l (r_l + d_r,l).
  int64_t kv_elements_per_token() const;
  int64_t kv_bytes_per_token_bf16() const { return 2 * kv_elements_per_token(); }
};

// Parses config.json contents; `source` names the file in errors.
ModelConfig parse_config(const nlohmann::json& j, const std::string& source = "config.json");
// `path`: a model directory or a config.json file.
ModelConfig load_config(const fs::path& path);

const char* family_name(Family f);
const char* rope_type_name(RopeType t);

}  // namespace yz
