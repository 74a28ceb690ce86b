// Attention modules of the two families behind one interface, so a decoder layer reads the
// same for GQA and MLA: GqaAttention (LlamaAttention / Qwen2Attention) and MlaAttention
// (DeepseekV3Attention plus our `native` extensions: biases, no latent norm, per-layer dims).
#pragma once

#include <torch/torch.h>

#include <map>

#include "model/config.h"
#include "model/kv_cache.h"
#include "model/layers.h"
#include "model/paged_kv_cache.h"
#include "model/rope.h"

namespace yz {

// What every attention layer of one forward call shares: cos/sin per rotary width for the
// positions being computed and the cache. Attention is causal: the T new tokens follow the
// tokens already cached. With `paged` (the serving engine) the batch is B = 1 and its T tokens
// are the new tokens of every scheduled sequence, laid out as paged->seqs says. Packed training
// rows (several documents, positions restarting in each) carry per-row cos/sin and a document
// mask; only the trainer sets it (no cache, no paging).
struct ForwardContext {
  // dim -> cos, sin: [T, dim] each, or [B, 1, T, dim] for per-row positions
  std::map<int64_t, std::pair<torch::Tensor, torch::Tensor>> cos_sin;
  torch::Tensor document_mask;  // [B, 1, T, T] bool (true: may attend); undefined: causal
  KvCache* cache = nullptr;
  int64_t start = 0;    // position of the first new token (contiguous cache)
  const PagedBatch* paged = nullptr;
};

// softmax(q·kᵀ·scale)·v over this call's keys: causal (kernels::causal_attention), or
// block-causal per document when ctx.document_mask is set (kernels::masked_attention).
// q [B, Hq, T, Dk], k [B, Hk, S, Dk], v [B, Hk, S, Dv] -> [B, Hq, T, Dv].
torch::Tensor attend(const ForwardContext& ctx, const torch::Tensor& q, const torch::Tensor& k,
                     const torch::Tensor& v, double scale);

// MLA attention form: explicit expands k_nope and v from the latent (prefill, training);
// absorbed folds W_UK into the query and W_UV after attention over the cached [c ‖ k_pe]
// (decode; what the serving engine runs). Both give the same logits.
enum class MlaPath { kExplicit, kAbsorbed };

struct AttentionImpl : torch::nn::Module {
  // x: [B, T, hidden] -> [B, T, hidden]
  virtual torch::Tensor forward(const torch::Tensor& x, const ForwardContext& ctx) = 0;
};

struct GqaAttentionImpl : AttentionImpl {
  GqaAttentionImpl(const ModelConfig& c, int64_t layer);
  torch::Tensor forward(const torch::Tensor& x, const ForwardContext& ctx) override;
  // Every head's attention output before o_proj: [B, H, T, D] (forward = o_proj of these).
  torch::Tensor head_outputs(const torch::Tensor& x, const ForwardContext& ctx);

  Linear q_proj{nullptr};  // [H·D, hidden] (+ bias [H·D])
  Linear k_proj{nullptr};  // [G·D, hidden] (+ bias)
  Linear v_proj{nullptr};  // [G·D, hidden] (+ bias)
  Linear o_proj{nullptr};  // [hidden, H·D] (+ bias for llama attention_bias)
  int64_t layer, heads, kv_heads, head_dim;
  double scale;  // 1/sqrt(D)
};

struct MlaAttentionImpl : AttentionImpl {
  MlaAttentionImpl(const ModelConfig& c, int64_t layer);
  torch::Tensor forward(const torch::Tensor& x, const ForwardContext& ctx) override;
  // Every head's attention output before o_proj: [B, H, T, v] (forward = o_proj of these).
  torch::Tensor head_outputs(const torch::Tensor& x, const ForwardContext& ctx);
  // The absorbed form before W_UV: each head's attention-weighted latents Σ_t a_{h,t} c̄_t,
  // [B, H, T, r] (head_outputs = W_UV,h of these). No cache.
  torch::Tensor latent_outputs(const torch::Tensor& x, const ForwardContext& ctx);

  Linear q_proj{nullptr};    // [H·(nope+d_r), hidden] when q_lora_rank is null
  Linear q_a_proj{nullptr};  // [r_q, hidden]
  RmsNorm q_a_layernorm{nullptr};       // [r_q], absent when qk_latent_layernorm is false
  Linear q_b_proj{nullptr};  // [H·(nope+d_r), r_q]
  Linear kv_a_proj_with_mqa{nullptr};  // [r + d_r, hidden]: latent c, then k_pe
  RmsNorm kv_a_layernorm{nullptr};      // [r], absent when qk_latent_layernorm is false
  Linear kv_b_proj{nullptr};  // [H·(nope+v), r]: per head k_nope rows then v rows
  Linear o_proj{nullptr};    // [hidden, H·v]
  int64_t layer, heads, nope, rope_dim, v_dim, rank;
  bool interleave;
  double scale;  // 1/sqrt(nope + d_r) × yarn mscale² when configured
  MlaPath path = MlaPath::kExplicit;

 private:
  struct Projected {
    torch::Tensor q_nope;  // [B, H, T, nope]
    torch::Tensor q_pe;    // [B, H, T, d_r], rotated
    torch::Tensor rows;    // [B, S, r + d_r]: normed latent ‖ rotated k_pe, cache included
  };
  Projected project(const torch::Tensor& x, const ForwardContext& ctx, bool use_cache);
  torch::Tensor latent_attention(const Projected& p, const ForwardContext& ctx);  // [B,H,T,r]
};

}  // namespace yz
