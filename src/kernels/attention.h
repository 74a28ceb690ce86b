// Attention entry points of the kernels layer (tensor level; they validate and dispatch):
// causal attention over contiguous tensors (prefill, perplexity, the converter's evaluation),
// attention of a serving step's new tokens over the paged KV cache, and the cache writes.
// CPU: the flash-style kernel of kernels/cpu/; CUDA: kernels/*.cu (CUDA builds); autograd (the
// trainer): the eager form on CPU, SDPA on CUDA. Each has a float64 reference for tests.
#pragma once

#include <ATen/ATen.h>

#include <cstdint>
#include <map>
#include <memory>
#include <vector>

namespace yz::kernels {

// softmax(q·kᵀ·scale + causal)·v. q [B, Hq, Tq, Dk], k [B, Hk, Tk, Dk], v [B, Hk, Tk, Dv]
// with Tq <= Tk and Hq % Hk == 0 (query head h reads KV head h / (Hq/Hk): GQA, and MQA for
// absorbed MLA). Query i sits at position Tk - Tq + i and sees keys 0..that position (a prefill
// after Tk - Tq cached tokens). Returns [B, Hq, Tq, Dv] in q's dtype.
at::Tensor causal_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                            double scale);
// The same in plain libtorch (differentiable; float32 softmax for 16-bit inputs, as
// transformers' eager_attention_forward).
at::Tensor causal_attention_eager(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                                  double scale);
// Attention under an arbitrary boolean mask: allowed [B or 1, 1, Tq, Tk], true where query i
// may read key j (every query row needs one such key); q, k, v as above. The trainer's packed
// rows (block-causal inside each document, train/data.h); the causal paths above serve all else.
// Differentiable: SDPA on CUDA (PyTorch 2), the eager form elsewhere.
at::Tensor masked_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                            const at::Tensor& allowed, double scale);

// How a CUDA launch splits one step's attention (attention_cuda.cc): the same for every layer
// with the same query heads per KV head, so it is built once per step and reused.
struct PagedLaunchPlan {
  at::Tensor tiles;  // [num_tiles × sizeof(AttentionTile)] bytes on the device
  int64_t num_tiles = 0, splits = 1, keys_per_split = 0;
};

// The sequences of one serving step over a paged cache. Device tensors for the kernels, host
// copies for partitioning the work.
struct PagedSeqs {
  at::Tensor block_tables;  // [S, max_blocks] int32: block of each sequence's i-th block_size tokens
  at::Tensor kv_lens;       // [S] int32: cached tokens of each sequence after this step's writes
  at::Tensor query_start;   // [S + 1] int32: sequence s owns query rows [qs[s], qs[s+1])
  std::vector<int32_t> kv_lens_host, query_start_host;
  int64_t max_kv_len = 0, max_q_len = 0;
  // CUDA launch plans by (query heads, KV heads), filled on first use in this step.
  std::shared_ptr<std::map<std::pair<int64_t, int64_t>, PagedLaunchPlan>> cuda_plans =
      std::make_shared<std::map<std::pair<int64_t, int64_t>, PagedLaunchPlan>>();
};

// Causal attention of a step's new tokens over the paged cache. q [Hq, N, Dk] (N = all new
// tokens of all sequences, token-major per sequence as query_start says); k_cache
// [num_blocks, Hk, block_size, Dk], v_cache [num_blocks, Hk, block_size, Dv] (strided views of the
// cache allocation are fine: MLA passes its latent rows as keys and their first r columns as
// values). Query row i of sequence s sits at position kv_len - q_len + i. Returns [Hq, N, Dv].
at::Tensor paged_attention(const at::Tensor& q, const at::Tensor& k_cache, const at::Tensor& v_cache,
                           const PagedSeqs& seqs, double scale);
// Prepares the CUDA launch plan of `seqs` for `heads` query heads over `kv_heads` KV heads ahead
// of a CUDA graph capture (no-op on the CPU and in CPU builds).
void prepare_paged_launch(const PagedSeqs& seqs, int64_t heads, int64_t kv_heads, const at::Device& device);
// Float64 reference: gathers each sequence's keys and runs causal_attention_eager.
at::Tensor paged_attention_reference(const at::Tensor& q, const at::Tensor& k_cache,
                                     const at::Tensor& v_cache, const PagedSeqs& seqs,
                                     double scale);

// cache[slot / block_size, :, slot % block_size, :] = rows[n] for every n: rows [N, Hk, D],
// cache [num_blocks, Hk, block_size, D], slot_mapping [N] int64 (vLLM's reshape_and_cache).
void cache_write(const at::Tensor& rows, const at::Tensor& cache, const at::Tensor& slot_mapping);
void cache_write_reference(const at::Tensor& rows, const at::Tensor& cache,
                           const at::Tensor& slot_mapping);

}  // namespace yz::kernels
