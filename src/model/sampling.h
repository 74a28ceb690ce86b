// Next-token choice: greedy at temperature 0, else temperature / top-k / top-p sampling driven by
// our own seeded generator, so a seed reproduces the same tokens on any device and libtorch.
#pragma once

#include <ATen/ATen.h>

#include <cstdint>
#include <random>

#include "model/sampling_params.h"

namespace yz {

class Sampler {
 public:
  explicit Sampler(const SamplingParams& params);
  // logits: [vocab] on any device and dtype.
  int32_t next(const at::Tensor& logits);
  const SamplingParams& params() const { return params_; }
  // The uniform draw in [0, 1) that next() scales by the kept probability mass: batched
  // samplers on other devices draw it here so that a seed gives the same tokens everywhere.
  double next_uniform();

 private:
  SamplingParams params_;
  std::mt19937_64 rng_;
};

}  // namespace yz
