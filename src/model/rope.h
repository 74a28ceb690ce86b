// Rotary position embeddings: inverse frequencies for every rope type transformers supports for
// our families (modeling_rope_utils.py: default, linear, llama3, yarn), cos/sin tables, and the
// two layouts: neox halves (Llama/Qwen/Mistral, rotate_half) and interleaved pairs (DeepSeek,
// apply_rotary_pos_emb_interleave).
#pragma once

#include <ATen/ATen.h>

#include "model/config.h"

namespace yz {

struct RotaryTables {
  at::Tensor inv_freq;           // [dim/2] float32
  double attention_scaling = 1;  // yarn's cos/sin multiplier (transformers' attention_factor)
};

// `dim`: the rotary width (head_dim for GQA, qk_rope_head_dim for MLA).
RotaryTables rotary_tables(const RopeConfig& rope, int64_t dim, int64_t max_position_embeddings);

// cos, sin: [..., dim] for positions [...] (int64: [T], or [B, T] for packed documents whose
// positions restart), in `dtype`; emb = cat(freqs, freqs) as in LlamaRotaryEmbedding.forward
// (float32 math, cast last).
std::pair<at::Tensor, at::Tensor> rotary_cos_sin(const RotaryTables& t, const at::Tensor& positions,
                                                 at::ScalarType dtype);

// x: [B, H, T, dim]; cos/sin: [T, dim] or [B, 1, T, dim]. Neox layout: x·cos + rotate_half(x)·sin.
at::Tensor apply_rotary(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin);
// Interleaved pairs (x0, x1), (x2, x3), ...: de-interleave to halves, then apply_rotary.
at::Tensor apply_rotary_interleaved(const at::Tensor& x, const at::Tensor& cos,
                                    const at::Tensor& sin);

// DeepSeek's yarn_get_mscale: 0.1·m·ln(scale) + 1 for scale > 1.
double yarn_mscale(double scale, double mscale);

}  // namespace yz
