// Tensor names and shapes per family (see hf_names.h). Matches transformers'
// modeling_llama / modeling_mistral / modeling_qwen2 / modeling_qwen3 / modeling_deepseek_v3.
#include "model/hf_names.h"

#include <set>

#include "util/safetensors.h"

namespace yz {

std::string layer_prefix(int64_t layer) { return "model.layers." + std::to_string(layer) + "."; }

std::vector<TensorSpec> expected_tensors(const ModelConfig& c) {
  const int64_t d = c.hidden_size, H = c.num_attention_heads;
  std::vector<TensorSpec> t;
  t.push_back({"model.embed_tokens.weight", {c.vocab_size, d}});
  for (int64_t l = 0; l < c.num_hidden_layers; ++l) {
    const std::string p = layer_prefix(l);
    const std::string a = p + "self_attn.";
    t.push_back({p + "input_layernorm.weight", {d}});
    if (c.family == Family::kGqa) {
      const int64_t D = c.head_dim, G = c.num_key_value_heads;
      t.push_back({a + "q_proj.weight", {H * D, d}});
      t.push_back({a + "k_proj.weight", {G * D, d}});
      t.push_back({a + "v_proj.weight", {G * D, d}});
      t.push_back({a + "o_proj.weight", {d, H * D}});
      if (c.attention_bias) {
        t.push_back({a + "q_proj.bias", {H * D}});
        t.push_back({a + "k_proj.bias", {G * D}});
        t.push_back({a + "v_proj.bias", {G * D}});
        // LlamaAttention / Qwen3Attention give o_proj a bias too; Qwen2Attention does not.
        if (c.model_type != "qwen2") t.push_back({a + "o_proj.bias", {d}});
      }
      if (c.qk_norm) {
        t.push_back({a + "q_norm.weight", {D}});
        t.push_back({a + "k_norm.weight", {D}});
      }
    } else {
      const int64_t r = c.mla_layers[l].kv_lora_rank, dr = c.mla_layers[l].qk_rope_head_dim;
      const int64_t qk = c.qk_nope_head_dim + dr;
      if (c.q_lora_rank) {
        t.push_back({a + "q_a_proj.weight", {*c.q_lora_rank, d}});
        if (c.qk_latent_layernorm) t.push_back({a + "q_a_layernorm.weight", {*c.q_lora_rank}});
        t.push_back({a + "q_b_proj.weight", {H * qk, *c.q_lora_rank}});
        if (c.attention_bias) t.push_back({a + "q_b_proj.bias", {H * qk}});
      } else {
        t.push_back({a + "q_proj.weight", {H * qk, d}});
        if (c.attention_bias) t.push_back({a + "q_proj.bias", {H * qk}});
      }
      t.push_back({a + "kv_a_proj_with_mqa.weight", {r + dr, d}});
      if (c.attention_bias) t.push_back({a + "kv_a_proj_with_mqa.bias", {r + dr}});
      if (c.qk_latent_layernorm) t.push_back({a + "kv_a_layernorm.weight", {r}});
      t.push_back({a + "kv_b_proj.weight", {H * (c.qk_nope_head_dim + c.v_head_dim), r}});
      t.push_back({a + "o_proj.weight", {d, H * c.v_head_dim}});
    }
    t.push_back({p + "post_attention_layernorm.weight", {d}});
    t.push_back({p + "mlp.gate_proj.weight", {c.intermediate_size, d}});
    t.push_back({p + "mlp.up_proj.weight", {c.intermediate_size, d}});
    t.push_back({p + "mlp.down_proj.weight", {d, c.intermediate_size}});
  }
  t.push_back({"model.norm.weight", {d}});
  if (!c.tie_word_embeddings) t.push_back({"lm_head.weight", {c.vocab_size, d}});
  return t;
}

int64_t num_params(const ModelConfig& config) {
  int64_t n = 0;
  for (const auto& t : expected_tensors(config)) {
    int64_t k = 1;
    for (int64_t s : t.shape) k *= s;
    n += k;
  }
  return n;
}

}  // namespace yz

namespace yz {

std::vector<std::string> check_checkpoint(const ModelConfig& config, const Checkpoint& ckpt) {
  std::vector<std::string> problems;
  std::set<std::string> expected;
  for (const auto& t : expected_tensors(config)) {
    expected.insert(t.name);
    if (!ckpt.has(t.name)) {
      problems.push_back("missing tensor '" + t.name + "'");
      continue;
    }
    if (ckpt.info(t.name).shape != t.shape) {
      std::string got, want;
      for (auto s : ckpt.info(t.name).shape) got += (got.empty() ? "" : ", ") + std::to_string(s);
      for (auto s : t.shape) want += (want.empty() ? "" : ", ") + std::to_string(s);
      problems.push_back("tensor '" + t.name + "' has shape [" + got + "], config implies [" +
                         want + "]");
    }
  }
  for (const auto& name : ckpt.names()) {
    // Tied checkpoints sometimes still store lm_head; rotary caches are derived state.
    if (!expected.count(name) && name != "lm_head.weight" &&
        name.find("rotary_emb.inv_freq") == std::string::npos)
      problems.push_back("unexpected tensor '" + name + "'");
  }
  return problems;
}

}  // namespace yz
