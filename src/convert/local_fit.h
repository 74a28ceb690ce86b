// Layer-local distillation (issue 17 item 3, mla_conversion.md §13.2): Adam on every attention
// weight of one converted layer (q_proj or q_a_proj / q_b_proj, kv_a_proj_with_mqa, kv_b_proj,
// o_proj, biases) minimising Σ‖attn_converted(x_f) − attn_original(x_o)‖² / Σ‖attn_original(x_o)‖²
// over random calibration windows, x_o the original model's inputs of the layer and x_f the same
// windows from the original model or from the converted prefix (FitOptions::inputs). Each
// tensor's step is relative to its RMS (these weights are small: §13.2 found absolute rates
// fragile), with a cosine decay to a tenth over the steps.
#pragma once

#include <torch/torch.h>

#include <map>
#include <nlohmann/json.hpp>
#include <string>

#include "convert/activations.h"
#include "convert/layer_fit.h"

namespace yz {

// Trains `attn` (native-form tensors of converted layer `layer` of `mla`, float64; replaced by
// the trained values) for options.local_steps steps in the streams' dtype, none when the layer
// already matches the original to rounding. Returns {"steps" (taken), "seconds", "loss_first",
// "loss_last"} (mean relative error of the first and last tenth of the steps' batches).
nlohmann::ordered_json distill_layer(std::map<std::string, torch::Tensor>& attn,
                                     const ModelConfig& mla, int64_t layer, DecoderLayerImpl& gqa,
                                     ActivationStream& original, ActivationStream& fit,
                                     const FitOptions& options);

}  // namespace yz
