// The student as the trainer sees it: which parameters train (--train attn | attn+norm | all),
// their float32 master copies (the model computes in bf16 on GPUs; AdamW updates the masters and
// the compute weights are re-cast from them), per-layer activation checkpointing, and the FLOP
// count of a step that MFU is measured against.
#pragma once

#include <torch/torch.h>

#include <string>
#include <vector>

#include "model/causal_lm.h"

namespace yz::train {

enum class TrainGroup { kAttn, kAttnNorm, kAll };
TrainGroup parse_train_group(const std::string& name);  // "attn" | "attn+norm" | "all"
const char* train_group_name(TrainGroup group);
// Whether HF tensor `name` trains in `group`: attn = every "self_attn." tensor (projections,
// biases, MLA latent norms); attn+norm adds every RMSNorm ("norm" in the name, MHA2MLA's
// attn/norm filter); all = everything, embeddings and lm_head included.
bool in_train_group(const std::string& name, TrainGroup group);

struct TrainableParams {
  std::vector<std::string> names;     // HF names
  std::vector<torch::Tensor> params;  // the model's tensors (compute dtype), requires_grad
  std::vector<torch::Tensor> masters; // [same shapes] float32 copies AdamW updates
  std::vector<bool> decay;            // weight decay applies (matrices, not norms or biases)
  int64_t numel() const;
};

// Marks the group's parameters trainable (every other one frozen) and makes their masters.
TrainableParams select_trainable(CausalLm& lm, TrainGroup group);
// Compute weights ← masters (a cast for bf16 compute, a copy for float32).
void copy_masters_to_params(const TrainableParams& t);

// Runs every decoder layer under activation checkpointing: the forward keeps only the layer's
// input; backward recomputes the layer with grad enabled and differentiates it
// (torch.utils.checkpoint's non-reentrant idea as an autograd Function; training.md §3.4). The
// layer's trainable parameters are inputs of the Function, so it is recorded even when its
// input needs no gradient (frozen embeddings).
LayerRunner checkpointed_layers();

// FLOPs of one training step, 6N-style (README "Throughput accounting"): 2 per matmul weight
// per token for every forward (teacher, student), 2 for the student's activation gradients, 2 for
// each trainable matmul weight's gradient, plus attention scores and values over the keys each
// query actually attends. Recomputation by activation checkpointing is not counted (MFU, not
// HFU). `attended_pairs`: Σ over rows of (query, key) pairs the masks allow.
struct StepFlops {
  double teacher = 0, student_forward = 0, student_backward = 0;
  double total() const { return teacher + student_forward + student_backward; }
};
StepFlops step_flops(const ModelConfig* teacher, const ModelConfig& student,
                     const TrainableParams& trainable, int64_t tokens, int64_t attended_pairs);

}  // namespace yz::train
