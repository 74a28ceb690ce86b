// Rotary embeddings (see rope.h). Each inverse-frequency rule restates the transformers function
// named beside it, in float32 as transformers computes it, so logits match to fp32 rounding.
#include "model/rope.h"

#include <cmath>

namespace yz {

namespace {

// _compute_default_rope_parameters: 1 / base^(arange(0, dim, 2) / dim), float32.
at::Tensor default_inv_freq(double base, int64_t dim) {
  at::Tensor exponents = at::arange(0, dim, 2, at::kLong).to(at::kFloat) / static_cast<float>(dim);
  return 1.0 / at::pow(static_cast<float>(base), exponents);
}

}  // namespace

double yarn_mscale(double scale, double mscale) {
  return scale <= 1.0 ? 1.0 : 0.1 * mscale * std::log(scale) + 1.0;
}

RotaryTables rotary_tables(const RopeConfig& rope, int64_t dim, int64_t max_position_embeddings) {
  RotaryTables t;
  t.inv_freq = default_inv_freq(rope.theta, dim);
  switch (rope.type) {
    case RopeType::kDefault:
      break;
    case RopeType::kLinear:  // _compute_linear_scaling_rope_parameters
      t.inv_freq = t.inv_freq / static_cast<float>(rope.factor);
      break;
    case RopeType::kLlama3: {  // _compute_llama3_parameters
      const double old_len = static_cast<double>(rope.original_max_position_embeddings);
      const double low_wavelen = old_len / rope.low_freq_factor;
      const double high_wavelen = old_len / rope.high_freq_factor;
      at::Tensor wavelen = 2 * M_PI / t.inv_freq;
      at::Tensor llama = at::where(wavelen > low_wavelen, t.inv_freq / rope.factor, t.inv_freq);
      at::Tensor smooth = (old_len / wavelen - rope.low_freq_factor) /
                          (rope.high_freq_factor - rope.low_freq_factor);
      at::Tensor smoothed = (1 - smooth) * llama / rope.factor + smooth * llama;
      at::Tensor medium = (wavelen >= high_wavelen).logical_and(wavelen <= low_wavelen);
      t.inv_freq = at::where(medium, smoothed, llama);
      break;
    }
    case RopeType::kYarn: {  // _compute_yarn_parameters
      const double base = rope.theta, factor = rope.factor;
      const double orig = rope.original_max_position_embeddings > 0
                              ? static_cast<double>(rope.original_max_position_embeddings)
                              : static_cast<double>(max_position_embeddings);
      if (rope.attention_factor) {
        t.attention_scaling = *rope.attention_factor;
      } else if (rope.mscale && rope.mscale_all_dim && *rope.mscale != 0 &&
                 *rope.mscale_all_dim != 0) {
        t.attention_scaling =
            yarn_mscale(factor, *rope.mscale) / yarn_mscale(factor, *rope.mscale_all_dim);
      } else {
        t.attention_scaling = yarn_mscale(factor, 1.0);
      }
      auto correction_dim = [&](double rotations) {
        return (dim * std::log(orig / (rotations * 2 * M_PI))) / (2 * std::log(base));
      };
      double low = std::max(std::floor(correction_dim(rope.beta_fast)), 0.0);
      double high = std::min(std::ceil(correction_dim(rope.beta_slow)), static_cast<double>(dim - 1));
      if (low == high) high += 0.001;
      at::Tensor ramp = ((at::arange(dim / 2, at::kFloat) - low) / (high - low)).clamp(0, 1);
      at::Tensor extrapolation_factor = 1 - ramp;
      at::Tensor pos_freqs = at::pow(static_cast<float>(base),
                                     at::arange(0, dim, 2, at::kFloat) / static_cast<float>(dim));
      at::Tensor extrapolation = 1.0 / pos_freqs;
      at::Tensor interpolation = 1.0 / (factor * pos_freqs);
      t.inv_freq = interpolation * (1 - extrapolation_factor) + extrapolation * extrapolation_factor;
      break;
    }
  }
  t.inv_freq = t.inv_freq.to(at::kFloat).contiguous();
  return t;
}

std::pair<at::Tensor, at::Tensor> rotary_cos_sin(const RotaryTables& t, const at::Tensor& positions,
                                                 at::ScalarType dtype) {
  at::Tensor inv = t.inv_freq.to(positions.device());
  at::Tensor freqs = positions.to(at::kFloat).unsqueeze(-1) * inv;  // [..., dim/2] (= outer)
  at::Tensor emb = at::cat({freqs, freqs}, -1);
  at::Tensor cos = emb.cos() * t.attention_scaling;
  at::Tensor sin = emb.sin() * t.attention_scaling;
  return {cos.to(dtype), sin.to(dtype)};
}

at::Tensor apply_rotary(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin) {
  const int64_t half = x.size(-1) / 2;
  at::Tensor x1 = x.narrow(-1, 0, half), x2 = x.narrow(-1, half, half);
  at::Tensor rotated = at::cat({-x2, x1}, -1);
  return x * cos + rotated * sin;
}

at::Tensor apply_rotary_interleaved(const at::Tensor& x, const at::Tensor& cos,
                                    const at::Tensor& sin) {
  std::vector<int64_t> shape = x.sizes().vec();
  const int64_t d = shape.back();
  std::vector<int64_t> pairs = shape;
  pairs.back() = d / 2;
  pairs.push_back(2);
  at::Tensor halves = x.reshape(pairs).transpose(-1, -2).reshape(shape);
  return apply_rotary(halves, cos, sin);
}

}  // namespace yz
