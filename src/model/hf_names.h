// The only place that spells Hugging Face checkpoint tensor names ("model.layers.{i}...") and
// knows which tensors (and shapes) a config implies. num_params and random-weight checkpoints
// of real configs are derived from this list.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "model/config.h"

namespace yz {

struct TensorSpec {
  std::string name;
  std::vector<int64_t> shape;  // HF layout: Linear weights are [out_features, in_features]
};

std::string layer_prefix(int64_t layer);  // "model.layers.{layer}."

// Every tensor a transformers checkpoint of this config holds (lm_head omitted when tied).
std::vector<TensorSpec> expected_tensors(const ModelConfig& config);
int64_t num_params(const ModelConfig& config);

}  // namespace yz

namespace yz {
class Checkpoint;
// Problems found comparing a checkpoint with the tensors its config implies: missing tensors,
// unexpected ones, wrong shapes. Empty when they agree.
std::vector<std::string> check_checkpoint(const ModelConfig& config, const Checkpoint& ckpt);
}  // namespace yz
