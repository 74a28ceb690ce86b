// Helpers shared by the converter tests (convert_test): the tiny reference checkpoints and
// float64 logits comparisons.
#pragma once

#include <torch/torch.h>

#include <string>

#include "model/causal_lm.h"
#include "test_util.h"

namespace yz::test {

inline fs::path tiny(const std::string& name) { return data_dir() / "decoder" / "tiny_models" / name; }

// Logits of every position, float64: [B, T, vocab].
inline torch::Tensor logits(CausalLm& lm, const torch::Tensor& ids) {
  torch::NoGradGuard g;
  return lm->forward(ids).to(torch::kDouble);
}

inline double max_diff(const torch::Tensor& a, const torch::Tensor& b) {
  return (a - b).abs().max().item<double>();
}

}  // namespace yz::test
