// RMSNorm and SwiGLU MLP (see layers.h).
#include "model/layers.h"

namespace yz {

RmsNormImpl::RmsNormImpl(int64_t dim, double eps_) : eps(eps_) {
  weight = register_parameter("weight", torch::ones({dim}));
}

torch::Tensor RmsNormImpl::forward(const torch::Tensor& x) {
  // float32 for 16-bit inputs as LlamaRMSNorm does; float64 stays float64 (exactness tests).
  torch::Tensor h = x.scalar_type() == torch::kDouble ? x : x.to(torch::kFloat);
  h = h * torch::rsqrt(h.pow(2).mean(-1, /*keepdim=*/true) + eps);
  return weight * h.to(x.scalar_type());
}

LinearImpl::LinearImpl(int64_t in, int64_t out, bool has_bias) {
  weight = register_parameter("weight", torch::empty({out, in}));
  if (has_bias) bias = register_parameter("bias", torch::empty({out}));
}

torch::Tensor LinearImpl::forward(const torch::Tensor& x) {
  return torch::nn::functional::linear(x, weight, bias);
}

MlpImpl::MlpImpl(int64_t hidden, int64_t intermediate) {
  gate_proj = register_module("gate_proj", Linear(hidden, intermediate, false));
  up_proj = register_module("up_proj", Linear(hidden, intermediate, false));
  down_proj = register_module("down_proj", Linear(intermediate, hidden, false));
}

torch::Tensor MlpImpl::forward(const torch::Tensor& x) {
  return down_proj(torch::silu(gate_proj(x)) * up_proj(x));
}

torch::Tensor causal_mask(int64_t tq, int64_t tk, int64_t start, const torch::Device& device) {
  auto q_pos = torch::arange(start, start + tq, torch::TensorOptions().device(device));
  auto k_pos = torch::arange(tk, torch::TensorOptions().device(device));
  auto allowed = k_pos.unsqueeze(0) <= q_pos.unsqueeze(1);
  return torch::zeros({tq, tk}, torch::TensorOptions().device(device))
      .masked_fill(allowed.logical_not(), -std::numeric_limits<float>::infinity());
}

}  // namespace yz
