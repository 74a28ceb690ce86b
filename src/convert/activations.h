// Hidden states of a fixed token set streamed through a model one decoder layer at a time, so
// that a converter holds one layer of weights at a time and never stores per-layer activations
// (mla_conversion.md §3.0, C++ note). Several streams advance side by side: the original
// model, the step-1 model and the converted model see the same tokens layer by layer.
#pragma once

#include <torch/torch.h>

#include <functional>
#include <vector>

#include "model/causal_lm.h"

namespace yz {

class ActivationStream {
 public:
  // ids: [N, T] int64 token windows; rotary_dims: every rotary width the layers will use.
  // Layers run on as many windows at a time as fit kTokensPerForward tokens (at least one).
  ActivationStream(const torch::Tensor& ids, const RopeConfig& rope, int64_t max_positions,
                   const std::vector<int64_t>& rotary_dims, torch::Device device,
                   torch::ScalarType dtype);
  static constexpr int64_t kTokensPerForward = 2048;  // bounds activation memory per forward
  void embed(const torch::Tensor& embed_weight);  // [vocab, hidden]: h = embedding rows
  // Calls fn with each batch's attention input of `layer` (after input_layernorm) [b, T, hidden].
  void observe(DecoderLayerImpl& layer, const std::function<void(const torch::Tensor&)>& fn);
  void advance(DecoderLayerImpl& layer);  // h = layer(h)
  // Attention input of `layer` for windows `idx` ([k] int64 on any device): [k, T, hidden].
  // Refits and local distillation pick their batches with it.
  torch::Tensor input(DecoderLayerImpl& layer, const torch::Tensor& idx) const;
  int64_t windows() const { return ids_.size(0); }
  int64_t batch() const { return batch_; }  // windows per forward (observe's batches)
  const ForwardContext& context() const { return ctx_; }  // rotary tables of [T]
  // Σ −log p(token t | < t) over t = 1..T−1 of every window (float64), after the final norm and
  // the head [vocab, hidden].
  double nll_sum(RmsNormImpl& norm, const torch::Tensor& head_weight);
  int64_t predictions() const { return ids_.size(0) * (ids_.size(1) - 1); }
  int64_t tokens() const { return ids_.numel(); }
  // Streams own their hidden states: copies are explicit (advance() updates them in place).
  ActivationStream copy() const;  // same tokens and context, its own hidden states
  ActivationStream(ActivationStream&&) = default;
  ActivationStream& operator=(ActivationStream&&) = default;

 private:
  ActivationStream(const ActivationStream&) = default;
  torch::Tensor ids_;  // [N, T] int64 on the device
  torch::Tensor h_;    // [N, T, hidden]
  ForwardContext ctx_;
  int64_t batch_;
};

}  // namespace yz
