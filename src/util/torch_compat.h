// The one place that knows libtorch versions differ: Debian's 1.13 (CPU) and PyTorch's bundled
// 2.x (CUDA). Everything else includes this instead of testing versions itself.
#pragma once

#include <ATen/ATen.h>
#include <torch/version.h>

// at::kFloat8_e4m3fn exists from PyTorch 2.1 on; 1.13 reads F8_E4M3 by decoding to float32.
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 1)
#define YZ_TORCH_HAS_FLOAT8 1
#else
#define YZ_TORCH_HAS_FLOAT8 0
#endif

namespace yz {

inline const char* torch_version_string() { return TORCH_VERSION; }

// Attention softmax(q·kᵀ·scale + mask)·v over [B, H, Tq, D] inputs; `mask` is additive
// [Tq, Tk] (0 / -inf) or undefined. PyTorch 2.x has a fused kernel (flash / memory-efficient on
// CUDA); 1.13 gets the eager form of transformers' eager_attention_forward (float32 softmax).
inline at::Tensor attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                            const at::Tensor& mask, double scale) {
#if TORCH_VERSION_MAJOR >= 2
  c10::optional<at::Tensor> m;
  if (mask.defined()) m = mask.to(q.scalar_type());
  return at::scaled_dot_product_attention(q, k, v, m, /*dropout_p=*/0.0, /*is_causal=*/false,
                                          scale);
#else
  at::Tensor scores = at::matmul(q, k.transpose(-2, -1)) * scale;
  if (mask.defined()) scores = scores + mask.to(scores.scalar_type());
  // float32 softmax for 16-bit inputs (transformers' eager path); float64 stays float64.
  const at::ScalarType acc = q.scalar_type() == at::kDouble ? at::kDouble : at::kFloat;
  return at::matmul(at::softmax(scores, -1, acc).to(q.scalar_type()), v);
#endif
}

}  // namespace yz
