// RMSNorm and SwiGLU MLP (see layers.h).
#include "model/layers.h"

#include "kernels/ops.h"

namespace yz {

RmsNormImpl::RmsNormImpl(int64_t dim, double eps_) : eps(eps_) {
  weight = register_parameter("weight", torch::ones({dim}));
}

torch::Tensor RmsNormImpl::forward(const torch::Tensor& x) {
  // One fused kernel instead of six ops on the GPU (inference; same math, kernels/params.h).
  const bool grad = torch::GradMode::is_enabled() && (x.requires_grad() || weight.requires_grad());
  if (x.is_cuda() && kernels::cuda_kernels_built() && !grad && x.scalar_type() == weight.scalar_type() &&
      (x.scalar_type() == torch::kFloat || x.scalar_type() == torch::kBFloat16))
    return kernels::rms_norm(x, weight, eps);
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

}  // namespace yz
