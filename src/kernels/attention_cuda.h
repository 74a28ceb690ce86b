// CUDA halves of the attention bindings (attention_ops.cc), in CUDA builds only: tensors in,
// params and launches out (the .cu files see no torch).
#pragma once

#include <ATen/ATen.h>

#include "kernels/attention.h"
#include "kernels/params.h"

namespace yz::kernels {

// p: filled by paged_attention with device pointers; o: its output [Hq, N, Dv].
void paged_attention_cuda(const AttentionParams& p, const PagedSeqs& seqs, const at::Tensor& o);
void cache_write_cuda(const at::Tensor& rows, const at::Tensor& cache, const at::Tensor& slot_mapping);

}  // namespace yz::kernels
