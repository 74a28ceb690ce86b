// Building blocks shared by the GQA and MLA decoders, as libtorch modules (trainable):
// RMSNorm (transformers' LlamaRMSNorm) and the SwiGLU MLP (LlamaMLP).
#pragma once

#include <torch/torch.h>

namespace yz {

struct RmsNormImpl : torch::nn::Module {
  RmsNormImpl(int64_t dim, double eps);
  // Normalise in float32, cast back, then scale (LlamaRMSNorm.forward).
  torch::Tensor forward(const torch::Tensor& x);
  torch::Tensor weight;  // [dim]
  double eps;
};
TORCH_MODULE(RmsNorm);

// y = x Wᵀ + b (nn.Linear) with uninitialised parameters: every module here is built to be
// loaded (checkpoint, conversion), and torch::nn::Linear's Kaiming init of the placeholders
// cost 4.3 s per 7B-sized layer on one core and touched every page of them.
struct LinearImpl : torch::nn::Module {
  LinearImpl(int64_t in, int64_t out, bool bias);
  torch::Tensor forward(const torch::Tensor& x);
  torch::Tensor weight;  // [out, in]
  torch::Tensor bias;    // [out], or undefined
};
TORCH_MODULE(Linear);

struct MlpImpl : torch::nn::Module {
  MlpImpl(int64_t hidden, int64_t intermediate);
  torch::Tensor forward(const torch::Tensor& x);  // down(silu(gate(x)) * up(x))
  Linear gate_proj{nullptr};  // [intermediate, hidden]
  Linear up_proj{nullptr};    // [intermediate, hidden]
  Linear down_proj{nullptr};  // [hidden, intermediate]
};
TORCH_MODULE(Mlp);

}  // namespace yz
