// Layer-by-layer activation streams (see activations.h). The forward pieces are the model's own
// DecoderLayer modules, so a stream computes exactly what CausalLm::forward computes.
#include "convert/activations.h"

#include "util/error.h"

namespace yz {

ActivationStream::ActivationStream(const torch::Tensor& ids, const RopeConfig& rope,
                                   int64_t max_positions, const std::vector<int64_t>& dims,
                                   torch::Device device, torch::ScalarType dtype)
    : ids_(ids.to(device, torch::kLong)) {
  YZ_ASSERT(ids.dim() == 2 && ids.size(1) >= 2, "stream ids must be [N, T >= 2]");
  batch_ = std::max<int64_t>(1, kTokensPerForward / ids.size(1));
  const int64_t T = ids.size(1);
  auto positions = torch::arange(T, torch::dtype(torch::kLong).device(device));
  for (int64_t d : dims)
    if (!ctx_.cos_sin.count(d))
      ctx_.cos_sin[d] = rotary_cos_sin(rotary_tables(rope, d, max_positions), positions, dtype);
}

void ActivationStream::embed(const torch::Tensor& w) {
  torch::NoGradGuard g;
  h_ = torch::nn::functional::embedding(ids_, w.to(ids_.device()));
  if (ctx_.cos_sin.begin()->second.first.scalar_type() != h_.scalar_type())
    h_ = h_.to(ctx_.cos_sin.begin()->second.first.scalar_type());
}

void ActivationStream::observe(DecoderLayerImpl& layer,
                               const std::function<void(const torch::Tensor&)>& fn) {
  torch::NoGradGuard g;
  for (int64_t s = 0; s < h_.size(0); s += batch_)
    fn(layer.input_layernorm(h_.narrow(0, s, std::min(batch_, h_.size(0) - s))));
}

void ActivationStream::advance(DecoderLayerImpl& layer) {
  torch::NoGradGuard g;
  for (int64_t s = 0; s < h_.size(0); s += batch_) {
    const int64_t b = std::min(batch_, h_.size(0) - s);
    h_.narrow(0, s, b).copy_(layer.forward(h_.narrow(0, s, b), ctx_));
  }
}

torch::Tensor ActivationStream::input(DecoderLayerImpl& layer, const torch::Tensor& idx) const {
  torch::NoGradGuard g;
  return layer.input_layernorm(h_.index_select(0, idx.to(h_.device(), torch::kLong)));
}

double ActivationStream::nll_sum(RmsNormImpl& norm, const torch::Tensor& head) {
  torch::NoGradGuard g;
  const int64_t T = ids_.size(1);
  double total = 0;
  // One window at a time: full-vocabulary logits of a 7B model are [T, 152k].
  for (int64_t s = 0; s < h_.size(0); ++s) {
    torch::Tensor logits = torch::nn::functional::linear(norm.forward(h_[s]), head);  // [T, V]
    torch::Tensor logp = torch::log_softmax(logits.narrow(0, 0, T - 1).to(torch::kFloat), -1);
    total -= logp.gather(-1, ids_[s].narrow(0, 1, T - 1).unsqueeze(-1))
                 .to(torch::kDouble).sum().item<double>();
  }
  return total;
}

ActivationStream ActivationStream::copy() const {
  ActivationStream out = *this;
  out.h_ = h_.clone();
  return out;
}

}  // namespace yz
