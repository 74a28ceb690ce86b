// Token losses computed from hidden states in chunks of tokens (Liger-Kernel's fused linear
// losses, training.md §1.3): per chunk the logits are formed, the loss and its gradient with
// respect to the logits are computed in closed form and pushed through the output projection at
// once, so the full [tokens, vocab] logits never exist and loss memory is O(chunk × vocab).
//   GKD: TRL's generalized_jsd_loss (trl/experimental/gkd/gkd_trainer.py) at temperature 1:
//        JSD_β = β·KL(T‖M) + (1-β)·KL(S‖M), M = β·T + (1-β)·S formed in log space; β = 0 is
//        exactly forward KL(T‖S), β = 1 exactly reverse KL(S‖T) (special-cased as in TRL).
//   CE:  next-token cross-entropy (train lm, SFT).
// Both sum over the vocabulary and over the counted tokens and multiply by `scale` (the trainer
// passes 1 / counted tokens of the whole step, all ranks and micro-batches: TRL's
// num_items_in_batch normalisation, which keeps gradient accumulation and data parallelism
// exact).
#pragma once

#include <torch/torch.h>

namespace yz::train {

struct LossOptions {
  bool gkd = false;     // false: cross-entropy on `targets`
  double beta = 0.5;    // GKD only, in [0, 1]
  double scale = 1.0;   // multiplies the summed loss (and its gradients)
  int64_t chunk = 0;    // tokens per chunk; 0: Liger's rule next_pow2(ceil(N / ceil(V / H)))
};

// h_s: [N, H] student final hidden states (may require grad); w_s: [V, H] its output weight (may
// require grad: --train all); targets: [N] int64, kIgnore = not counted (CE reads the ids, GKD
// only the mask); h_t, w_t: the teacher's [N, H] and [V, H] (GKD only, no grad). Returns the
// scalar scale · Σ_counted loss_token (float32; float64 for float64 inputs), differentiable with
// respect to h_s and w_s.
torch::Tensor chunked_linear_loss(const torch::Tensor& h_s, const torch::Tensor& w_s,
                                  const torch::Tensor& targets, const torch::Tensor& h_t,
                                  const torch::Tensor& w_t, const LossOptions& options);

// The plain autograd reference on full logits [N, V], written as TRL writes it (kl_div with
// log_target, logsumexp of the stacked mixture terms) and summed over counted tokens: the check
// of the chunked loss and its gradients, in float64 or float32.
torch::Tensor gkd_loss_reference(const torch::Tensor& student_logits,
                                 const torch::Tensor& teacher_logits, const torch::Tensor& targets,
                                 double beta);
torch::Tensor ce_loss_reference(const torch::Tensor& logits, const torch::Tensor& targets);

// Liger's chunk size: next power of two of ceil(N / ceil(V / H)), so a chunk's logits are about
// the size of the hidden states.
int64_t default_loss_chunk(int64_t tokens, int64_t vocab, int64_t hidden);

}  // namespace yz::train
