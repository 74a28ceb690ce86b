// Grouped-query attention, as transformers' LlamaAttention.forward (Qwen2/Mistral identical up to
// biases): project, rotate (neox), cache, repeat KV heads over their query group, attend, o_proj.
#include "model/attention.h"
#include "kernels/attention.h"

namespace yz {

GqaAttentionImpl::GqaAttentionImpl(const ModelConfig& c, int64_t layer_)
    : layer(layer_), heads(c.num_attention_heads), kv_heads(c.num_key_value_heads),
      head_dim(c.head_dim), scale(1.0 / std::sqrt(static_cast<double>(c.head_dim))) {
  const int64_t d = c.hidden_size;
  const bool qkv_bias = c.attention_bias;
  const bool o_bias = c.attention_bias && c.model_type != "qwen2";  // Qwen2: o_proj has none
  q_proj = register_module("q_proj", Linear(d, heads * head_dim, qkv_bias));
  k_proj = register_module("k_proj", Linear(d, kv_heads * head_dim, qkv_bias));
  v_proj = register_module("v_proj", Linear(d, kv_heads * head_dim, qkv_bias));
  o_proj = register_module("o_proj", Linear(heads * head_dim, d, o_bias));
}

torch::Tensor GqaAttentionImpl::forward(const torch::Tensor& x, const ForwardContext& ctx) {
  const int64_t B = x.size(0), T = x.size(1);
  return o_proj(head_outputs(x, ctx).transpose(1, 2).reshape({B, T, heads * head_dim}));
}

torch::Tensor GqaAttentionImpl::head_outputs(const torch::Tensor& x, const ForwardContext& ctx) {
  const int64_t B = x.size(0), T = x.size(1);
  torch::Tensor q = q_proj(x).view({B, T, heads, head_dim}).transpose(1, 2);      // [B,H,T,D]
  torch::Tensor k = k_proj(x).view({B, T, kv_heads, head_dim}).transpose(1, 2);   // [B,G,T,D]
  torch::Tensor v = v_proj(x).view({B, T, kv_heads, head_dim}).transpose(1, 2);   // [B,G,T,D]
  const auto& [cos, sin] = ctx.cos_sin.at(head_dim);
  q = apply_rotary(q, cos, sin);
  k = apply_rotary(k, cos, sin);
  torch::Tensor out;  // [B,H,T,D]
  if (ctx.paged != nullptr) {  // engine step: B = 1, T = the new tokens of every sequence
    const PagedKvCache& cache = *ctx.paged->cache;
    kernels::cache_write(k[0].transpose(0, 1), cache.keys(layer), ctx.paged->slot_mapping);
    kernels::cache_write(v[0].transpose(0, 1), cache.values(layer), ctx.paged->slot_mapping);
    out = kernels::paged_attention(q[0], cache.keys(layer), cache.values(layer), ctx.paged->seqs,
                                   scale).unsqueeze(0);
  } else {
    if (ctx.cache != nullptr) std::tie(k, v) = ctx.cache->store_kv(layer, k, v);
    // Query head h reads KV head h / (H/G) (repeat_kv) inside the kernel.
    out = attend(ctx, q, k, v, scale);
  }
  return out;
}

}  // namespace yz
