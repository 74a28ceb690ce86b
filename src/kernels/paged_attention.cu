// Paged attention on the GPU: a step's new tokens over the paged KV cache (AttentionParams in
// params.h), for absorbed MLA (one shared [c ‖ k_pe] head, values = its first r columns) and GQA
// alike. Decode is memory-bound (serving.md §2.1): the kernel reads each sequence's cache rows
// ONCE per KV head for all the query heads that share them — a tile of up to 32 query rows
// (tokens × heads) — with bf16 tensor-core MMAs (mma.sync m16n8k16) for Q·Kᵀ and P·V, an online
// softmax in float32 (FlashAttention), cp.async double buffering of the key tiles, and split-KV
// (FlashDecoding) when the batch alone cannot fill the GPU; a combine kernel merges the splits
// by their log-sum-exp. Any r, d_r, head count and block size: dims are runtime loops over
// 16-wide k-steps, the output width picks one of four register layouts. Float32 (and odd widths
// the vector loads cannot serve) go through a plain CUDA-core kernel with the same math, which
// is also the bf16 kernel's on-device cross-check in the tests.
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstdint>

#include "kernels/params.h"

namespace yz::kernels {

namespace {

constexpr int kThreads = 256;  // 8 warps
constexpr int kRows = kAttentionTileRows;  // 32 query rows: two m16 tiles
#define kNegInf (-__int_as_float(0x7f800000))

struct RowInfo {  // where query row r of a tile sits
  int64_t token;  // global token index (into q/o)
  int head;
  int pos;        // position of its token: it sees keys 0..pos
};

__device__ RowInfo row_info(const AttentionParams& p, const AttentionTile& t, int r) {
  const int group = static_cast<int>(p.heads / p.kv_heads);
  const int flat = t.row0 + r;
  const int q0 = p.query_start[t.seq];
  const int q_len = p.query_start[t.seq + 1] - q0;
  const int first = p.kv_lens[t.seq] - q_len;
  RowInfo ri;
  ri.token = q0 + flat / group;
  ri.head = t.g * group + flat % group;
  ri.pos = first + flat / group;
  return ri;
}

__device__ __forceinline__ float to_f(float v) { return v; }
__device__ __forceinline__ float to_f(__nv_bfloat16 v) { return __bfloat162float(v); }
template <typename T> __device__ __forceinline__ T from_f(float v);
template <> __device__ __forceinline__ float from_f<float>(float v) { return v; }
template <> __device__ __forceinline__ __nv_bfloat16 from_f<__nv_bfloat16>(float v) {
  return __float2bfloat16(v);
}

// Key row j of KV head g of sequence s (through the block table).
template <typename T>
__device__ __forceinline__ const T* kv_row(const AttentionParams& p, const void* base, int64_t block_stride,
                                           int64_t head_stride, int64_t row_stride, int seq, int g, int j) {
  const int32_t block = p.block_tables[static_cast<int64_t>(seq) * p.max_blocks + j / p.block_size];
  return static_cast<const T*>(base) + block * block_stride + g * head_stride + (j % p.block_size) * row_stride;
}

// ---------------------------------------------------------------------------------------------
// bf16 tensor-core kernel.

__device__ __forceinline__ uint32_t smem_addr(const void* p) {
  return static_cast<uint32_t>(__cvta_generic_to_shared(p));
}
__device__ __forceinline__ void ldmatrix_x4(uint32_t (&r)[4], const void* p) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3]) : "r"(smem_addr(p)));
}
__device__ __forceinline__ void ldmatrix_x4_trans(uint32_t (&r)[4], const void* p) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3]) : "r"(smem_addr(p)));
}
__device__ __forceinline__ void ldmatrix_x2(uint32_t (&r)[2], const void* p) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x2.shared.b16 {%0,%1}, [%2];\n"
               : "=r"(r[0]), "=r"(r[1]) : "r"(smem_addr(p)));
}
// D = A·B + D, A 16×16 bf16 (row), B 16×8 bf16 (col), D 16×8 float32.
__device__ __forceinline__ void mma_bf16(float (&d)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
      "{%0,%1,%2,%3};\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}
__device__ __forceinline__ void cp_async16(void* dst, const void* src, bool valid) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n"
               :: "r"(smem_addr(dst)), "l"(src), "r"(valid ? 16 : 0));
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::); }
__device__ __forceinline__ void cp_async_wait_all() { asm volatile("cp.async.wait_group 0;\n" ::); }

// mbarrier + bulk-copy (TMA engine) primitives of sm_90: a key row is one contiguous global
// range, so each row is ONE cp.async.bulk into shared memory, completing on the stage's
// mbarrier by byte count; no thread waits on or computes per-16-byte addresses.
__device__ __forceinline__ void mbar_init(uint64_t* bar, uint32_t count) {
  asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;\n" :: "r"(smem_addr(bar)), "r"(count));
}
__device__ __forceinline__ void mbar_expect_tx(uint64_t* bar, uint32_t bytes) {
  asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;\n"
               :: "r"(smem_addr(bar)), "r"(bytes) : "memory");
}
__device__ __forceinline__ void mbar_wait(uint64_t* bar, uint32_t parity) {
  asm volatile(
      "{\n .reg .pred P1;\n"
      "WAIT:\n mbarrier.try_wait.parity.shared::cta.b64 P1, [%0], %1;\n"
      " @P1 bra DONE;\n bra WAIT;\n"
      "DONE:\n}\n" :: "r"(smem_addr(bar)), "r"(parity) : "memory");
}
__device__ __forceinline__ void bulk_copy(void* dst, const void* src, uint32_t bytes, uint64_t* bar) {
  asm volatile(
      "cp.async.bulk.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1], %2, [%3];\n"
      :: "r"(smem_addr(dst)), "l"(src), "r"(bytes), "r"(smem_addr(bar)) : "memory");
}

constexpr int kKeys = 32;      // keys per pipeline stage
constexpr int kMaxStages = 8;

// Shared memory of the tensor-core kernel (pitches in elements, +8 so that ldmatrix's eight
// 16-byte rows fall in distinct banks): Q, then `stages` key (and value) tiles, then P, the
// float32 scores and the per-row rescale factors.
struct Smem {
  int dk_pad, dv_pad, kpitch, vpitch, stages;
  bool separate_v;
  __device__ __host__ size_t stage_elems() const {
    return static_cast<size_t>(kKeys) * (kpitch + (separate_v ? vpitch : 0));
  }
  __device__ __host__ size_t k_off(int st) const {
    return static_cast<size_t>(kRows) * kpitch + static_cast<size_t>(st) * stage_elems();
  }
  __device__ __host__ size_t v_off(int st) const { return k_off(st) + static_cast<size_t>(kKeys) * kpitch; }
  __device__ __host__ size_t p_off() const { return k_off(stages); }
  __device__ __host__ size_t bf16_elems() const { return p_off() + static_cast<size_t>(kRows) * (kKeys + 8); }
  // float32 scores [kRows][kKeys + 4] and per-row alpha after the bf16 area, then slack: with
  // values inside the key rows (MLA) a warp's last columns may run past a row's end; they only
  // feed output columns >= dv, which are never written, and must stay inside the allocation.
  __device__ __host__ size_t bytes() const {
    return bf16_elems() * 2 + static_cast<size_t>(kRows) * (kKeys + 4) * 4 + kRows * 4 + dv_pad * 2;
  }
};

__host__ __device__ inline int round_up(int x, int m) { return (x + m - 1) / m * m; }

// Issues one stage: the key (and value) rows of keys j0..j0+kKeys-1 as bulk copies by warp 0.
// Keys past key_end copy the last valid key instead (finite data the softmax masks out).
__device__ void produce_stage(const AttentionParams& p, const Smem& sm, __nv_bfloat16* smem,
                              uint64_t* bar, int stage, int seq, int g, int j0, int key_end) {
  const int lane = threadIdx.x % 32;
  const uint32_t k_bytes = static_cast<uint32_t>(p.dk) * 2, v_bytes = static_cast<uint32_t>(p.dv) * 2;
  if (lane == 0) mbar_expect_tx(bar, kKeys * (k_bytes + (sm.separate_v ? v_bytes : 0)));
  __syncwarp();
  for (int r = lane; r < kKeys; r += 32) {
    const int j = min(j0 + r, key_end - 1);
    bulk_copy(smem + sm.k_off(stage) + r * sm.kpitch,
              kv_row<__nv_bfloat16>(p, p.k, p.k_block_stride, p.k_head_stride, p.k_row_stride, seq, g, j),
              k_bytes, bar);
    if (sm.separate_v)
      bulk_copy(smem + sm.v_off(stage) + r * sm.vpitch,
                kv_row<__nv_bfloat16>(p, p.v, p.v_block_stride, p.v_head_stride, p.v_row_stride, seq, g, j),
                v_bytes, bar);
  }
}

template <int NT>  // n8 output tiles per warp (dv <= 64·NT)
__global__ void __launch_bounds__(kThreads, 1)
paged_attention_tc(const AttentionParams p, const PagedLaunch L, const Smem sm) {
  extern __shared__ __align__(16) unsigned char smem_raw[];
  __nv_bfloat16* smem = reinterpret_cast<__nv_bfloat16*>(smem_raw);
  __nv_bfloat16* sq = smem;
  __nv_bfloat16* sp = smem + sm.p_off();
  float* ss = reinterpret_cast<float*>(smem_raw + sm.bf16_elems() * 2);  // [kRows][kKeys + 4]
  float* salpha = ss + kRows * (kKeys + 4);
  __shared__ int spos[kRows];  // position of each row's token (-1: padding row)
  __shared__ __align__(8) uint64_t full[kMaxStages];

  const AttentionTile tile = L.tiles[blockIdx.x];
  const int split = blockIdx.y;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int dk = static_cast<int>(p.dk), dv = static_cast<int>(p.dv);

  // Keys this block visits: causal limit of the tile's last row, cut to this split.
  const RowInfo last = row_info(p, tile, tile.rows - 1);
  const int k_begin = split * L.keys_per_split;
  const int k_end = min(last.pos + 1, k_begin + L.keys_per_split);
  const int ntiles = k_end > k_begin ? (k_end - k_begin + kKeys - 1) / kKeys : 0;

  if (threadIdx.x < kRows)
    spos[threadIdx.x] = threadIdx.x < tile.rows ? row_info(p, tile, threadIdx.x).pos : -1;
  if (threadIdx.x == 0) {
    for (int st = 0; st < sm.stages; ++st) mbar_init(&full[st], 1);
    asm volatile("fence.mbarrier_init.release.cluster;\n" ::: "memory");
  }
  // Padding columns of the stage buffers are never written by the copies: zero them once
  // (Q's are zero-filled by its loads), so 0·garbage never makes a NaN.
  if (sm.dk_pad > dk)
    for (int i = threadIdx.x; i < sm.stages * kKeys; i += kThreads)
      for (int c = dk; c < sm.dk_pad; ++c)
        smem[sm.k_off(i / kKeys) + (i % kKeys) * sm.kpitch + c] = __float2bfloat16(0.f);
  if (sm.separate_v && sm.dv_pad > dv)
    for (int i = threadIdx.x; i < sm.stages * kKeys; i += kThreads)
      for (int c = dv; c < sm.dv_pad; ++c)
        smem[sm.v_off(i / kKeys) + (i % kKeys) * sm.vpitch + c] = __float2bfloat16(0.f);
  // Q tile -> shared (zero padding rows and columns).
  for (int i = threadIdx.x; i < kRows * (sm.dk_pad / 8); i += kThreads) {
    const int r = i / (sm.dk_pad / 8), c = (i % (sm.dk_pad / 8)) * 8;
    const bool valid = r < tile.rows && c < dk;
    const __nv_bfloat16* src = static_cast<const __nv_bfloat16*>(p.q);
    if (valid) {
      const RowInfo ri = row_info(p, tile, r);
      src += ri.token * p.q_tok_stride + ri.head * p.q_head_stride + c;
    }
    cp_async16(sq + r * sm.kpitch + c, src, valid);
  }
  cp_async_commit();
  __syncthreads();  // barriers initialised before any copy completes on them
  if (warp == 0)
    for (int t = 0; t < sm.stages - 1 && t < ntiles; ++t)
      produce_stage(p, sm, smem, &full[t], t, tile.seq, tile.g, k_begin + t * kKeys, k_end);
  cp_async_wait_all();

  float m_run[4], l_run[4];  // the 4 rows this warp owns in the softmax phase
#pragma unroll
  for (int i = 0; i < 4; ++i) m_run[i] = kNegInf, l_run[i] = 0.f;
  float acc[2][NT][4];  // output: rows (lane/4)+{0,8}+16·mt, columns of this warp
#pragma unroll
  for (int mt = 0; mt < 2; ++mt)
#pragma unroll
    for (int nt = 0; nt < NT; ++nt)
#pragma unroll
      for (int e = 0; e < 4; ++e) acc[mt][nt][e] = 0.f;
  const int col0 = warp * NT * 8;  // this warp's first output column

  for (int t = 0; t < ntiles; ++t) {
    const int st = t % sm.stages;
    const int j0 = k_begin + t * kKeys;
    mbar_wait(&full[st], static_cast<uint32_t>((t / sm.stages) & 1));
    __syncthreads();  // everyone is past tile t-1 (and Q landed): its stage may be refilled
    if (warp == 0 && t + sm.stages - 1 < ntiles) {
      const int next = t + sm.stages - 1;
      produce_stage(p, sm, smem, &full[next % sm.stages], next % sm.stages, tile.seq, tile.g,
                    k_begin + next * kKeys, k_end);
    }
    const __nv_bfloat16* sk = smem + sm.k_off(st);
    const __nv_bfloat16* sv = sm.separate_v ? smem + sm.v_off(st) : sk;
    const int vpitch = sm.separate_v ? sm.vpitch : sm.kpitch;

    // S = Q·Kᵀ: warp w computes rows 16·(w/4).., keys 8·(w%4)..+8.
    {
      const int mt = warp / 4, n0 = (warp % 4) * 8;
      float s4[4] = {0.f, 0.f, 0.f, 0.f};
      for (int k0 = 0; k0 < sm.dk_pad; k0 += 16) {
        uint32_t a[4], b[2];
        ldmatrix_x4(a, sq + (mt * 16 + (lane % 16)) * sm.kpitch + k0 + (lane / 16) * 8);
        ldmatrix_x2(b, sk + (n0 + (lane % 8)) * sm.kpitch + k0 + ((lane / 8) % 2) * 8);
        mma_bf16(s4, a, b[0], b[1]);
      }
      const int r = mt * 16 + lane / 4, c = n0 + (lane % 4) * 2;
      ss[r * (kKeys + 4) + c] = s4[0];
      ss[r * (kKeys + 4) + c + 1] = s4[1];
      ss[(r + 8) * (kKeys + 4) + c] = s4[2];
      ss[(r + 8) * (kKeys + 4) + c + 1] = s4[3];
    }
    __syncthreads();

    // Online softmax: warp w owns rows 4w..4w+3, one key per lane.
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      const int r = warp * 4 + i;
      const int j = j0 + lane;
      const float v = (j < k_end && j <= spos[r]) ? ss[r * (kKeys + 4) + lane] * static_cast<float>(p.scale)
                                                  : kNegInf;
      float mx = v;
#pragma unroll
      for (int o = 16; o > 0; o /= 2) mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, o));
      const float m_new = fmaxf(m_run[i], mx);
      const float alpha = m_new == kNegInf ? 1.f : __expf(m_run[i] - m_new);
      const float pe = v == kNegInf ? 0.f : __expf(v - m_new);
      sp[r * (kKeys + 8) + lane] = __float2bfloat16(pe);
      float sum = pe;
#pragma unroll
      for (int o = 16; o > 0; o /= 2) sum += __shfl_xor_sync(0xffffffffu, sum, o);
      l_run[i] = l_run[i] * alpha + sum;
      m_run[i] = m_new;
      if (lane == 0) salpha[r] = alpha;
    }
    __syncthreads();

    // O = O·alpha + P·V over this warp's columns.
    if (col0 < dv) {
#pragma unroll
      for (int mt = 0; mt < 2; ++mt) {
        const float a_lo = salpha[mt * 16 + lane / 4], a_hi = salpha[mt * 16 + lane / 4 + 8];
#pragma unroll
        for (int nt = 0; nt < NT; ++nt) {
          acc[mt][nt][0] *= a_lo, acc[mt][nt][1] *= a_lo;
          acc[mt][nt][2] *= a_hi, acc[mt][nt][3] *= a_hi;
        }
      }
#pragma unroll
      for (int k0 = 0; k0 < kKeys; k0 += 16) {
        uint32_t a[2][4];
#pragma unroll
        for (int mt = 0; mt < 2; ++mt)
          ldmatrix_x4(a[mt], sp + (mt * 16 + (lane % 16)) * (kKeys + 8) + k0 + (lane / 16) * 8);
#pragma unroll
        for (int nt = 0; nt < NT; nt += 2) {
          uint32_t b[4];
          ldmatrix_x4_trans(b, sv + (k0 + (lane % 16)) * vpitch + col0 + nt * 8 + (lane / 16) * 8);
#pragma unroll
          for (int mt = 0; mt < 2; ++mt) {
            mma_bf16(acc[mt][nt], a[mt], b[0], b[1]);
            mma_bf16(acc[mt][nt + 1], a[mt], b[2], b[3]);
          }
        }
      }
    }
  }
  cp_async_wait_all();  // Q's copy when there were no keys
  __syncthreads();

  // Row sums and maxima live with the softmax warps: publish them for the output layout.
  float* sl = ss;  // reuse the score area: [kRows] l, then [kRows] m
  float* sm_row = ss + kRows;
  if (lane == 0)
#pragma unroll
    for (int i = 0; i < 4; ++i) sl[warp * 4 + i] = l_run[i], sm_row[warp * 4 + i] = m_run[i];
  __syncthreads();
  if (col0 >= dv) return;
#pragma unroll
  for (int mt = 0; mt < 2; ++mt)
#pragma unroll
    for (int half = 0; half < 2; ++half) {
      const int r = mt * 16 + lane / 4 + half * 8;
      if (r >= tile.rows) continue;
      const RowInfo ri = row_info(p, tile, r);
      const float l = sl[r];
      const float inv = l > 0.f ? 1.f / l : 0.f;
      const int64_t out_row = ri.token * p.heads + ri.head;
#pragma unroll
      for (int nt = 0; nt < NT; ++nt) {
        const int c = col0 + nt * 8 + (lane % 4) * 2;
        const float o0 = acc[mt][nt][half * 2] * inv, o1 = acc[mt][nt][half * 2 + 1] * inv;
        if (L.splits == 1) {
          __nv_bfloat16* dst = static_cast<__nv_bfloat16*>(p.o) + ri.token * p.o_tok_stride +
                               ri.head * p.o_head_stride + c;
          if (c < dv) dst[0] = __float2bfloat16(o0);
          if (c + 1 < dv) dst[1] = __float2bfloat16(o1);
        } else {
          float* dst = L.part_o + (static_cast<int64_t>(split) * L.total_tokens * p.heads + out_row) * dv + c;
          if (c < dv) dst[0] = o0;
          if (c + 1 < dv) dst[1] = o1;
        }
      }
      if (L.splits > 1 && lane % 4 == 0 && warp == 0)
        L.part_lse[static_cast<int64_t>(split) * L.total_tokens * p.heads + out_row] =
            l > 0.f ? sm_row[r] + __logf(l) : kNegInf;
    }
}

// ---------------------------------------------------------------------------------------------
// CUDA-core kernel: one block per (token, head), any dtype and width (float32 path, odd widths).

template <typename T>
__global__ void paged_attention_simple(const AttentionParams p, const PagedLaunch L, int seqs) {
  extern __shared__ float sh[];  // [dv] accumulator, [128] scores
  float* oacc = sh;
  float* sc = sh + p.dv;
  const int64_t token = blockIdx.x / p.heads;
  const int head = static_cast<int>(blockIdx.x % p.heads);
  const int split = blockIdx.y;
  int seq = 0;
  while (seq + 1 < seqs && p.query_start[seq + 1] <= token) ++seq;
  const int q_len = p.query_start[seq + 1] - p.query_start[seq];
  const int pos = p.kv_lens[seq] - q_len + static_cast<int>(token - p.query_start[seq]);
  const int g = head / static_cast<int>(p.heads / p.kv_heads);
  const int k_begin = split * L.keys_per_split;
  const int k_end = min(pos + 1, k_begin + L.keys_per_split);
  const T* q = static_cast<const T*>(p.q) + token * p.q_tok_stride + head * p.q_head_stride;
  for (int c = threadIdx.x; c < p.dv; c += blockDim.x) oacc[c] = 0.f;
  __shared__ float red[32];
  float m = kNegInf, l = 0.f;
  for (int j0 = k_begin; j0 < k_end; j0 += 128) {
    const int j = j0 + threadIdx.x;
    float s = kNegInf;
    if (j < k_end) {
      const T* k = kv_row<T>(p, p.k, p.k_block_stride, p.k_head_stride, p.k_row_stride, seq, g, j);
      float dot = 0.f;
      for (int d = 0; d < p.dk; ++d) dot += to_f(q[d]) * to_f(k[d]);
      s = dot * static_cast<float>(p.scale);
    }
    float mx = s;
    for (int o = 16; o > 0; o /= 2) mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, o));
    if (threadIdx.x % 32 == 0) red[threadIdx.x / 32] = mx;
    __syncthreads();
    mx = kNegInf;
    for (int w = 0; w < blockDim.x / 32; ++w) mx = fmaxf(mx, red[w]);
    const float m_new = fmaxf(m, mx);
    const float alpha = m_new == kNegInf ? 1.f : __expf(m - m_new);
    const float pj = s == kNegInf ? 0.f : __expf(s - m_new);
    sc[threadIdx.x] = pj;
    __syncthreads();
    float sum = 0.f;
    const int nk = min(128, k_end - j0);
    for (int jj = 0; jj < nk; ++jj) sum += sc[jj];
    for (int c = threadIdx.x; c < p.dv; c += blockDim.x) {
      float o = oacc[c] * alpha;
      for (int jj = 0; jj < nk; ++jj) {
        if (sc[jj] == 0.f) continue;
        const T* v = kv_row<T>(p, p.v, p.v_block_stride, p.v_head_stride, p.v_row_stride, seq, g, j0 + jj);
        o += sc[jj] * to_f(v[c]);
      }
      oacc[c] = o;
    }
    l = l * alpha + sum;
    m = m_new;
    __syncthreads();
  }
  const int64_t out_row = token * p.heads + head;
  const float inv = l > 0.f ? 1.f / l : 0.f;
  for (int c = threadIdx.x; c < p.dv; c += blockDim.x) {
    if (L.splits == 1)
      static_cast<T*>(p.o)[token * p.o_tok_stride + head * p.o_head_stride + c] = from_f<T>(oacc[c] * inv);
    else
      L.part_o[(static_cast<int64_t>(split) * L.total_tokens * p.heads + out_row) * p.dv + c] = oacc[c] * inv;
  }
  if (L.splits > 1 && threadIdx.x == 0)
    L.part_lse[static_cast<int64_t>(split) * L.total_tokens * p.heads + out_row] =
        l > 0.f ? m + __logf(l) : kNegInf;
}

// Merges split-KV partial outputs: o = Σ_s w_s o_s with w_s ∝ exp(lse_s).
template <typename T>
__global__ void combine_splits(const AttentionParams p, const PagedLaunch L) {
  const int64_t row = blockIdx.x;  // token · heads + head
  const int64_t token = row / p.heads;
  const int head = static_cast<int>(row % p.heads);
  const int64_t stride = L.total_tokens * p.heads;
  float mx = kNegInf;
  for (int s = 0; s < L.splits; ++s) mx = fmaxf(mx, L.part_lse[s * stride + row]);
  float wsum = 0.f;
  for (int s = 0; s < L.splits; ++s) {
    const float lse = L.part_lse[s * stride + row];
    wsum += lse == kNegInf ? 0.f : __expf(lse - mx);
  }
  T* dst = static_cast<T*>(p.o) + token * p.o_tok_stride + head * p.o_head_stride;
  for (int c = threadIdx.x; c < p.dv; c += blockDim.x) {
    float o = 0.f;
    for (int s = 0; s < L.splits; ++s) {
      const float lse = L.part_lse[s * stride + row];
      if (lse != kNegInf) o += __expf(lse - mx) * L.part_o[(s * stride + row) * p.dv + c];
    }
    dst[c] = from_f<T>(o / wsum);
  }
}

bool aligned16(const void* ptr) { return reinterpret_cast<uintptr_t>(ptr) % 16 == 0; }

// n8 output tiles per warp: the 8 warps together span 64·NT >= dv columns.
int output_tiles(const AttentionParams& p) {
  return p.dv <= 128 ? 2 : p.dv <= 256 ? 4 : p.dv <= 512 ? 8 : 16;
}

// As many pipeline stages as fit next to Q and the score buffers (bytes in flight hide the
// latency of the next keys; 227 KB of shared memory per block on Hopper, minus the static
// barriers and row positions).
constexpr size_t kSmemBudget = 227 * 1024 - 256;
Smem smem_layout(const AttentionParams& p, bool separate_v) {
  Smem sm{};
  sm.dk_pad = round_up(static_cast<int>(p.dk), 16);
  sm.dv_pad = 64 * output_tiles(p);  // every warp's column span stays inside its row
  sm.kpitch = sm.dk_pad + 8;
  sm.vpitch = sm.dv_pad + 8;
  sm.separate_v = separate_v;
  for (sm.stages = kMaxStages; sm.stages > 2 && sm.bytes() > kSmemBudget; --sm.stages) {
  }
  return sm;
}

template <int NT>
void launch_tc(const AttentionParams& p, const PagedLaunch& L, const Smem& sm, cudaStream_t stream) {
  auto kernel = paged_attention_tc<NT>;
  static int granted = 0;  // dynamic shared memory opted into so far (per instantiation)
  if (static_cast<int>(sm.bytes()) > granted) {
    cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(sm.bytes()));
    granted = static_cast<int>(sm.bytes());
  }
  kernel<<<dim3(L.num_tiles, L.splits), kThreads, sm.bytes(), stream>>>(p, L, sm);
}

}  // namespace

void paged_attention_launch(const AttentionParams& p, const PagedLaunch& L, void* stream_ptr) {
  cudaStream_t stream = static_cast<cudaStream_t>(stream_ptr);
  const int seqs = static_cast<int>(p.seqs);
  const bool separate_v = !(p.v == p.k && p.v_block_stride == p.k_block_stride &&
                            p.v_head_stride == p.k_head_stride && p.v_row_stride == p.k_row_stride);
  // The tensor-core path needs bf16, 16-byte aligned rows and widths it has a layout for.
  const bool vec = p.dtype == kDTypeBF16 && p.dk % 8 == 0 && p.dv % 8 == 0 && p.dv <= 1024 &&
                   p.dk <= 1088 && p.k_row_stride % 8 == 0 && p.k_head_stride % 8 == 0 &&
                   p.k_block_stride % 8 == 0 && p.v_row_stride % 8 == 0 && p.v_head_stride % 8 == 0 &&
                   p.v_block_stride % 8 == 0 && p.q_tok_stride % 8 == 0 && p.q_head_stride % 8 == 0 &&
                   aligned16(p.q) && aligned16(p.k) && aligned16(p.v) &&
                   smem_layout(p, separate_v).bytes() <= kSmemBudget;
  if (vec) {
    const Smem sm = smem_layout(p, separate_v);
    switch (output_tiles(p)) {
      case 2: launch_tc<2>(p, L, sm, stream); break;
      case 4: launch_tc<4>(p, L, sm, stream); break;
      case 8: launch_tc<8>(p, L, sm, stream); break;
      default: launch_tc<16>(p, L, sm, stream); break;
    }
  } else {
    const size_t shmem = (p.dv + 128) * sizeof(float);
    const dim3 grid(static_cast<unsigned>(L.total_tokens * p.heads), L.splits);
    if (p.dtype == kDTypeBF16)
      paged_attention_simple<__nv_bfloat16><<<grid, 128, shmem, stream>>>(p, L, seqs);
    else
      paged_attention_simple<float><<<grid, 128, shmem, stream>>>(p, L, seqs);
  }
  if (L.splits > 1) {
    const unsigned rows = static_cast<unsigned>(L.total_tokens * p.heads);
    if (p.dtype == kDTypeBF16)
      combine_splits<__nv_bfloat16><<<rows, 128, 0, stream>>>(p, L);
    else
      combine_splits<float><<<rows, 128, 0, stream>>>(p, L);
  }
}

}  // namespace yz::kernels
