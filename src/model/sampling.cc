// Sampling (see sampling.h). Probabilities are computed in float64 on the CPU from the logits so
// that the draw depends only on the seed and the logits.
#include "model/sampling.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#include "util/error.h"

namespace yz {

Sampler::Sampler(const SamplingParams& params) : params_(params), rng_(params.seed) {
  YZ_CHECK(params.temperature >= 0, "temperature must be >= 0");
  YZ_CHECK(params.top_p > 0 && params.top_p <= 1, "top_p must be in (0, 1]");
  YZ_CHECK(params.top_k >= 0, "top_k must be >= 0");
}

double Sampler::next_uniform() { return std::generate_canonical<double, 53>(rng_); }

int32_t Sampler::next(const at::Tensor& logits) {
  at::Tensor l = logits.detach().to(at::kCPU, at::kDouble).contiguous();
  const double* v = l.data_ptr<double>();
  const int64_t n = l.numel();
  if (params_.temperature == 0.0)  // first maximum, as torch.argmax
    return static_cast<int32_t>(std::max_element(v, v + n) - v);
  std::vector<int32_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  int64_t keep = params_.top_k > 0 ? std::min<int64_t>(params_.top_k, n) : n;
  std::partial_sort(order.begin(), order.begin() + keep, order.end(),
                    [&](int32_t a, int32_t b) { return v[a] > v[b] || (v[a] == v[b] && a < b); });
  order.resize(keep);
  std::vector<double> p(keep);
  const double top = v[order[0]];
  double sum = 0;
  for (int64_t i = 0; i < keep; ++i) sum += p[i] = std::exp((v[order[i]] - top) / params_.temperature);
  double mass = 0;
  int64_t cut = keep;
  for (int64_t i = 0; i < keep; ++i) {  // nucleus: smallest prefix reaching top_p
    mass += p[i] / sum;
    if (mass >= params_.top_p) {
      cut = i + 1;
      break;
    }
  }
  double total = std::accumulate(p.begin(), p.begin() + cut, 0.0);
  // uniform_real_distribution(0, total) computes exactly this (libstdc++).
  double u = next_uniform() * total;
  for (int64_t i = 0; i < cut; ++i) {
    u -= p[i];
    if (u < 0) return order[i];
  }
  return order[cut - 1];
}

}  // namespace yz
