// CUDA halves of the attention bindings (attention_ops.cc), in CUDA builds only: tensors in,
// params and launches out (the .cu files see no torch).
#pragma once

#include <ATen/ATen.h>

#include "kernels/attention.h"
#include "kernels/params.h"

namespace yz::kernels {

// p: filled by paged_attention with device pointers; o: its output [Hq, N, Dv].
void paged_attention_cuda(const AttentionParams& p, const PagedSeqs& seqs, const at::Tensor& o);
// Builds the launch plan (tiles, splits) of `seqs` for this head layout now, e.g. before a CUDA
// graph capture, where the host-to-device copy it needs is not allowed.
void prepare_paged_launch_cuda(const PagedSeqs& seqs, int64_t heads, int64_t kv_heads,
                               const at::Device& device);
void cache_write_cuda(const at::Tensor& rows, const at::Tensor& cache, const at::Tensor& slot_mapping);

}  // namespace yz::kernels
