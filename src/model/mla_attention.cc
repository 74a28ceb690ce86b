// Multi-head latent attention, as transformers' DeepseekV3Attention.forward (explicit path), plus
// the absorbed form that attends over the cached [c ‖ k_pe] rows as one shared head
// (mla_conversion.md §6; vLLM's forward_mqa).
#include "model/attention.h"
#include "kernels/attention.h"

namespace yz {

MlaAttentionImpl::MlaAttentionImpl(const ModelConfig& c, int64_t layer_)
    : layer(layer_), heads(c.num_attention_heads), nope(c.qk_nope_head_dim),
      rope_dim(c.mla_layers[layer_].qk_rope_head_dim), v_dim(c.v_head_dim),
      rank(c.mla_layers[layer_].kv_lora_rank), interleave(c.rope_interleave) {
  const int64_t d = c.hidden_size, qk = nope + rope_dim;
  const bool bias = c.attention_bias;  // our `native` extension; stock DeepSeek has none
  if (c.q_lora_rank) {
    q_a_proj = register_module("q_a_proj", Linear(d, *c.q_lora_rank, false));
    if (c.qk_latent_layernorm)  // TransMLA's qk_latent_layernorm governs both latent norms
      q_a_layernorm = register_module("q_a_layernorm", RmsNorm(*c.q_lora_rank, c.rms_norm_eps));
    q_b_proj = register_module("q_b_proj", Linear(*c.q_lora_rank, heads * qk, bias));
  } else {
    q_proj = register_module("q_proj", Linear(d, heads * qk, bias));
  }
  kv_a_proj_with_mqa = register_module("kv_a_proj_with_mqa", Linear(d, rank + rope_dim, bias));
  if (c.qk_latent_layernorm)
    kv_a_layernorm = register_module("kv_a_layernorm", RmsNorm(rank, c.rms_norm_eps));
  kv_b_proj = register_module("kv_b_proj", Linear(rank, heads * (nope + v_dim), false));
  o_proj = register_module("o_proj", Linear(heads * v_dim, d, false));
  scale = 1.0 / std::sqrt(static_cast<double>(qk));
  // DeepseekV3Attention: with yarn scaling and mscale_all_dim, scale *= mscale².
  if (c.rope.type == RopeType::kYarn && c.rope.mscale_all_dim && *c.rope.mscale_all_dim != 0) {
    const double m = yarn_mscale(c.rope.factor, *c.rope.mscale_all_dim);
    scale *= m * m;
  }
}

torch::Tensor MlaAttentionImpl::forward(const torch::Tensor& x, const ForwardContext& ctx) {
  const int64_t B = x.size(0), T = x.size(1);
  return o_proj(head_outputs(x, ctx).transpose(1, 2).reshape({B, T, heads * v_dim}));
}

MlaAttentionImpl::Projected MlaAttentionImpl::project(const torch::Tensor& x,
                                                      const ForwardContext& ctx, bool use_cache) {
  const int64_t B = x.size(0), T = x.size(1);
  torch::Tensor q;
  if (q_proj) {
    q = q_proj(x);
  } else {
    torch::Tensor q_lat = q_a_proj(x);  // [B,T,r_q]
    q = q_b_proj(q_a_layernorm ? q_a_layernorm(q_lat) : q_lat);
  }
  q = q.view({B, T, heads, nope + rope_dim}).transpose(1, 2);             // [B,H,T,nope+d_r]
  torch::Tensor q_nope = q.narrow(-1, 0, nope), q_pe = q.narrow(-1, nope, rope_dim);
  torch::Tensor kv = kv_a_proj_with_mqa(x);                               // [B,T,r+d_r]
  torch::Tensor c = kv.narrow(-1, 0, rank);                               // [B,T,r]
  torch::Tensor k_pe = kv.narrow(-1, rank, rope_dim).unsqueeze(1);        // [B,1,T,d_r]
  if (kv_a_layernorm) c = kv_a_layernorm(c);
  const auto& [cos, sin] = ctx.cos_sin.at(rope_dim);
  auto rotate = [&](const torch::Tensor& t) {
    return interleave ? apply_rotary_interleaved(t, cos, sin) : apply_rotary(t, cos, sin);
  };
  torch::Tensor rows = torch::cat({c, rotate(k_pe).squeeze(1)}, -1);      // [B,T,r+d_r]
  if (use_cache && ctx.cache != nullptr) rows = ctx.cache->store_latent(layer, rows);  // [B,S,·]
  return {q_nope, rotate(q_pe), rows};
}

torch::Tensor MlaAttentionImpl::latent_attention(const Projected& p, const ForwardContext& ctx) {
  // kv_b_proj.weight [H·(nope+v), r] viewed per head: W_UK [H, nope, r].
  torch::Tensor w_uk = kv_b_proj->weight.view({heads, nope + v_dim, rank}).narrow(1, 0, nope);
  torch::Tensor q_lat = torch::einsum("bhtn,hnr->bhtr", {p.q_nope, w_uk});  // [B,H,T,r]
  // One shared KV head (MQA): keys [B,1,S,r+d_r], values c [B,1,S,r].
  return attend(ctx, torch::cat({q_lat, p.q_pe}, -1), p.rows.unsqueeze(1),
                p.rows.narrow(-1, 0, rank).unsqueeze(1), scale);
}

torch::Tensor MlaAttentionImpl::latent_outputs(const torch::Tensor& x, const ForwardContext& ctx) {
  return latent_attention(project(x, ctx, /*use_cache=*/false), ctx);
}

torch::Tensor MlaAttentionImpl::head_outputs(const torch::Tensor& x, const ForwardContext& ctx) {
  const Projected p = project(x, ctx, /*use_cache=*/true);
  // kv_b_proj.weight [H·(nope+v), r] viewed per head: W_UK [H, nope, r], W_UV [H, v, r].
  torch::Tensor w = kv_b_proj->weight.view({heads, nope + v_dim, rank});
  torch::Tensor w_uv = w.narrow(1, nope, v_dim);
  if (ctx.paged != nullptr) {
    // Engine step (B = 1): the latent rows go to the paged cache and attention runs absorbed,
    // every query head over the shared [c ‖ k_pe] rows (keys) and c (values).
    const PagedKvCache& cache = *ctx.paged->cache;
    kernels::cache_write(p.rows[0].unsqueeze(1), cache.keys(layer), ctx.paged->slot_mapping);
    torch::Tensor q_lat = torch::einsum("bhtn,hnr->bhtr", {p.q_nope, w.narrow(1, 0, nope)});
    torch::Tensor o_lat = kernels::paged_attention(torch::cat({q_lat, p.q_pe}, -1)[0],
                                                   cache.keys(layer), cache.values(layer),
                                                   ctx.paged->seqs, scale);  // [H,T,r]
    return torch::einsum("htr,hvr->htv", {o_lat, w_uv}).unsqueeze(0);
  }
  if (path == MlaPath::kAbsorbed)  // W_UV after attention over the cached rows
    return torch::einsum("bhtr,hvr->bhtv", {latent_attention(p, ctx), w_uv});
  const int64_t B = p.rows.size(0), S = p.rows.size(1);
  torch::Tensor c_all = p.rows.narrow(-1, 0, rank);                         // [B,S,r]
  torch::Tensor k_pe_all = p.rows.narrow(-1, rank, rope_dim).unsqueeze(1);  // [B,1,S,d_r]
  torch::Tensor kvb = kv_b_proj(c_all).view({B, S, heads, nope + v_dim}).transpose(1, 2);
  torch::Tensor k_nope = kvb.narrow(-1, 0, nope), v = kvb.narrow(-1, nope, v_dim);
  torch::Tensor k = torch::cat({k_nope, k_pe_all.expand({B, heads, S, rope_dim})}, -1);
  return attend(ctx, torch::cat({p.q_nope, p.q_pe}, -1), k, v, scale);  // [B,H,T,v]
}

}  // namespace yz
