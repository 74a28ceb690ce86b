// Layer-local distillation (see local_fit.h).
#include "convert/local_fit.h"

#include <chrono>
#include <cmath>

#include "util/error.h"

namespace yz {

nlohmann::ordered_json distill_layer(std::map<std::string, torch::Tensor>& attn,
                                     const ModelConfig& mla, int64_t l, DecoderLayerImpl& gqa,
                                     ActivationStream& original, ActivationStream& fit,
                                     const FitOptions& o) {
  YZ_CHECK(o.local_steps > 0, "--local-steps must be positive");
  YZ_ASSERT(original.windows() == fit.windows(), "distillation streams hold different windows");
  const auto t0 = std::chrono::steady_clock::now();
  auto& a = *dynamic_cast<GqaAttentionImpl*>(gqa.self_attn.get());
  const torch::Device dev = a.q_proj->weight.device();
  const torch::ScalarType dtype = a.q_proj->weight.scalar_type();
  auto conv = mla_attention_module(mla, l, attn, dev, dtype);
  conv->train();
  // One parameter group per tensor: step = local_lr · RMS of the tensor (a bias takes its
  // weight's RMS: a zero or tiny bias would otherwise never move).
  std::vector<torch::optim::OptimizerParamGroup> groups;
  std::vector<double> base_lr;
  auto params = conv->named_parameters();
  for (auto& item : params) {
    const std::string& name = item.key();
    torch::Tensor ref = item.value();
    if (name.size() > 5 && name.substr(name.size() - 5) == ".bias")
      ref = params[name.substr(0, name.size() - 5) + ".weight"];
    const double rms = ref.detach().to(torch::kDouble).pow(2).mean().sqrt().item<double>();
    base_lr.push_back(o.local_lr * std::max(rms, 1e-12));
    item.value().set_requires_grad(true);
    groups.emplace_back(std::vector<torch::Tensor>{item.value()},
                        std::make_unique<torch::optim::AdamOptions>(base_lr.back()));
  }
  torch::optim::Adam adam(groups, torch::optim::AdamOptions(o.local_lr));
  const int64_t W = original.windows();
  const int64_t per_step = o.local_windows > 0 ? std::min(o.local_windows, W)
                                               : std::min(original.batch(), W);
  torch::Generator gen = torch::make_generator<torch::CPUGeneratorImpl>(o.seed + 7919 * l);
  const ForwardContext& ctx = original.context();
  const int64_t tenth = std::max<int64_t>(1, o.local_steps / 10);
  // A layer that already reproduces the original to rounding has nothing to fit, and Adam's
  // normalised steps would only move it off (they hover at a loss of about local_lr²).
  const double exact = std::pow(100 * (dtype == torch::kDouble ? 2.2e-16 : 1.2e-7), 2);
  double first = 0, last = 0;
  int64_t done = 0;
  for (int64_t step = 0; step < o.local_steps; ++step, ++done) {
    torch::Tensor idx = torch::randperm(W, gen, torch::kLong).narrow(0, 0, per_step);
    torch::Tensor xo = original.input(gqa, idx);
    torch::Tensor xf = &fit == &original ? xo : fit.input(gqa, idx);
    torch::Tensor target;
    {
      torch::NoGradGuard g;
      target = a.forward(xo, ctx);
    }
    torch::Tensor loss = (conv->forward(xf, ctx) - target).pow(2).sum() / target.pow(2).sum();
    if (step == 0 && loss.item<double>() < exact) {
      first = last = loss.item<double>();
      break;
    }
    adam.zero_grad();
    loss.backward();
    const double decay = 0.1 + 0.9 * 0.5 * (1 + std::cos(M_PI * step / o.local_steps));
    for (size_t k = 0; k < adam.param_groups().size(); ++k)
      static_cast<torch::optim::AdamOptions&>(adam.param_groups()[k].options()).lr(base_lr[k] * decay);
    adam.step();
    const double v = loss.item<double>();
    YZ_CHECK(std::isfinite(v), "layer ", l, ": local distillation diverged (loss ", v,
             ") at step ", step, "; lower --local-lr");
    if (step < tenth) first += v / tenth;
    if (step >= o.local_steps - tenth) last += v / tenth;
  }
  torch::NoGradGuard g;
  for (auto& item : conv->named_parameters())
    attn[item.key()] = item.value().detach().to(attn.at(item.key()).options());
  return {{"steps", done}, {"windows_per_step", per_step}, {"loss_first", first},
          {"loss_last", last},
          {"seconds", std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count()}};
}

}  // namespace yz
