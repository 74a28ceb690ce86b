// Plain launch parameters for CUDA kernels (no torch types: .cu files stay framework-free).
#pragma once

#include <cstdint>

namespace yz::kernels {

// y = x / sqrt(mean(x^2) + eps) * weight, row by row (transformers' LlamaRMSNorm: the
// normalisation is computed in float32 and cast back before the weight multiply).
struct RmsNormParams {
  const void* x;       // [rows, cols], dtype per `dtype`
  const void* weight;  // [cols]
  void* y;             // [rows, cols]
  int64_t rows;
  int64_t cols;
  float eps;
  int dtype;           // 0 = float32, 1 = bfloat16
};

constexpr int kDTypeF32 = 0;
constexpr int kDTypeBF16 = 1;
constexpr int kDTypeF64 = 2;  // CPU kernels only (exactness tests)

// Causal attention of query rows over key/value rows that sit either contiguously per sequence
// or in fixed-size blocks of a paged cache (the serving engine). Query token i of sequence s sits
// at position kv_len(s) - q_len(s) + i and sees keys 0..that position; query head h reads KV
// head h / (heads / kv_heads) (GQA; MQA when kv_heads == 1, as absorbed MLA). Strides are in
// elements; the last dimension of every tensor is contiguous.
struct AttentionParams {
  const void* q;  // [seqs][q_len][heads][dk] through the strides below
  int64_t q_seq_stride, q_tok_stride, q_head_stride;  // seq stride unused when query_start set
  void* o;        // [seqs][q_len][heads][dv]
  int64_t o_seq_stride, o_tok_stride, o_head_stride;
  // Key row j of KV head g of sequence s: k + block * k_block_stride + g * k_head_stride +
  // (j % block_size) * k_row_stride, block = block_tables[s * max_blocks + j / block_size], or
  // block = s when block_tables is null (contiguous: block_size covers the sequence).
  const void* k;  // [blocks][kv_heads][block_size][dk]
  const void* v;  // [blocks][kv_heads][block_size][dv]
  int64_t k_block_stride, k_head_stride, k_row_stride;  // values alike, with v_*
  int64_t v_block_stride, v_head_stride, v_row_stride;
  const int32_t* block_tables;  // [seqs][max_blocks] or null
  int64_t max_blocks, block_size;
  // Ragged batches (engine steps): sequence s owns query tokens [query_start[s], query_start[s+1])
  // of one token-major q/o, and kv_lens[s] keys. Null: every sequence has q_len / kv_len.
  const int32_t* query_start;  // [seqs + 1] or null
  const int32_t* kv_lens;      // [seqs] or null
  int64_t seqs, q_len, kv_len;
  int64_t heads, kv_heads, dk, dv;
  double scale;
  int dtype;  // kDTypeF32, kDTypeBF16 or kDTypeF64 for q, k, v and o alike
};

// Launches on the current CUDA stream; defined in rms_norm.cu (CUDA builds only).
void rms_norm_launch(const RmsNormParams& params, void* stream);

// One tile of a paged attention launch: up to kAttentionTileRows query rows of sequence `seq`
// that read KV head `g`; rows are (token, head) pairs of that sequence in token-major order,
// row0 the first one (row = token · group + head within the group).
struct AttentionTile {
  int32_t seq, g, row0, rows;
};
constexpr int kAttentionTileRows = 32;

// Split-KV launch layout (kernels/paged_attention.cu): `tiles` on the device, each tile run by
// `splits` blocks over consecutive ranges of keys_per_split keys; with splits > 1 the partial
// outputs go to part_o [splits][N·heads][dv] (float32) and their log-sum-exp to
// part_lse [splits][N·heads], then a combine kernel writes o.
struct PagedLaunch {
  const AttentionTile* tiles;
  int32_t num_tiles, splits, keys_per_split;
  float* part_o;
  float* part_lse;
  int64_t total_tokens;  // N
};
void paged_attention_launch(const AttentionParams& p, const PagedLaunch& launch, void* stream);

// cache[block, head, offset, :] = rows[n, head, :] with slot = block · block_size + offset.
struct CacheWriteParams {
  const void* rows;       // [n][heads][dim], strides below (elements)
  int64_t row_tok_stride, row_head_stride;
  void* cache;            // [blocks][heads][block_size][dim] through the strides below
  int64_t block_stride, head_stride, row_stride;
  const int64_t* slots;   // [n]
  int64_t n, heads, dim, block_size;
  int elem_bytes;         // 2 or 4
};
void cache_write_launch(const CacheWriteParams& p, void* stream);

}  // namespace yz::kernels
