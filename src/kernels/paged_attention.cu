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

// Shared memory of the tensor-core kernel (pitches in elements, +8 so that ldmatrix's eight
// 16-byte rows fall in distinct banks).
struct Smem {
  int dk_pad, dv_pad, kpitch, vpitch, keys;
  bool separate_v;
  __device__ __host__ size_t q_off() const { return 0; }
  __device__ __host__ size_t k_off(int buf) const {
    return static_cast<size_t>(kRows) * kpitch + static_cast<size_t>(buf) * keys * kpitch;
  }
  __device__ __host__ size_t v_off(int buf) const {
    return k_off(2) + static_cast<size_t>(buf) * keys * vpitch;
  }
  __device__ __host__ size_t p_off() const { return v_off(separate_v ? 2 : 0); }
  __device__ __host__ size_t bf16_elems() const { return p_off() + static_cast<size_t>(kRows) * (keys + 8); }
  // float32 scores [kRows][keys + 4] and per-row alpha after the bf16 area, then slack: with
  // values inside the key rows (MLA) a warp's last columns may run past a row's end; they only
  // feed output columns >= dv, which are never written, and must stay inside the allocation.
  __device__ __host__ size_t bytes() const {
    return bf16_elems() * 2 + static_cast<size_t>(kRows) * (keys + 4) * 4 + kRows * 4 + dv_pad * 2;
  }
};

__host__ __device__ inline int round_up(int x, int m) { return (x + m - 1) / m * m; }

// Copies KEYS key rows from j0 on, `dim` bf16 each, into dst (16-byte chunks; zero-fill past dim
// and for rows at or past key_end). Wide rows (absorbed MLA, r + d_r >= 192): a warp copies
// whole rows, so the block-table lookup and row address are computed once per row; per-chunk
// 64-bit index arithmetic was the MLA tile loop's largest cost (H200: 1.5-1.8x faster decode at
// batch >= 32). Narrow rows (GQA heads of 128): a thread per chunk, which keeps every lane busy;
// a warp per 16-chunk row left half of them idle and measured 0.5-0.8x as fast.
template <int KEYS>
__device__ void load_tile(const AttentionParams& p, const void* base, int64_t block_stride,
                          int64_t head_stride, int64_t row_stride, __nv_bfloat16* dst, int pitch,
                          int dim_pad, int dim, int seq, int g, int j0, int key_end) {
  const int chunks = dim_pad / 8;
  const __nv_bfloat16* zero_src = static_cast<const __nv_bfloat16*>(base);
  if (chunks < 24) {
    for (int i = threadIdx.x; i < KEYS * chunks; i += kThreads) {
      const int r = i / chunks, c = (i % chunks) * 8;
      const int j = j0 + r;
      const bool valid = j < key_end && c < dim;
      const __nv_bfloat16* src = valid ? kv_row<__nv_bfloat16>(p, base, block_stride, head_stride, row_stride, seq, g, j) + c
                                       : zero_src;
      cp_async16(dst + r * pitch + c, src, valid);
    }
    return;
  }
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int bs = static_cast<int>(p.block_size);
  const int32_t* table = p.block_tables + static_cast<int64_t>(seq) * p.max_blocks;
  #pragma unroll
  for (int r = warp; r < KEYS; r += kThreads / 32) {
    const int j = j0 + r;
    const bool row_valid = j < key_end;
    const __nv_bfloat16* row = zero_src;
    if (row_valid) row += table[j / bs] * block_stride + g * head_stride + (j % bs) * row_stride;
    for (int c = lane * 8; c < dim_pad; c += 32 * 8) {
      const bool valid = row_valid && c < dim;
      cp_async16(dst + r * pitch + c, valid ? row + c : zero_src, valid);
    }
  }
}

template <int KEYS, int NT>  // keys per tile; n8 output tiles per warp (dv <= 64·NT)
__global__ void __launch_bounds__(kThreads, 1)
paged_attention_tc(const AttentionParams p, const PagedLaunch L, const Smem sm) {
  extern __shared__ __align__(16) unsigned char smem_raw[];
  __nv_bfloat16* smem = reinterpret_cast<__nv_bfloat16*>(smem_raw);
  __nv_bfloat16* sq = smem + sm.q_off();
  __nv_bfloat16* sp = smem + sm.p_off();
  float* ss = reinterpret_cast<float*>(smem_raw + sm.bf16_elems() * 2);  // [kRows][KEYS + 4]
  float* salpha = ss + kRows * (KEYS + 4);

  const AttentionTile tile = L.tiles[blockIdx.x];
  const int split = blockIdx.y;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int dk = static_cast<int>(p.dk), dv = static_cast<int>(p.dv);

  // Keys this block visits: causal limit of the tile's last row, cut to this split.
  const RowInfo last = row_info(p, tile, tile.rows - 1);
  const int key_limit = last.pos + 1;
  const int k_begin = split * L.keys_per_split;
  const int k_end = min(key_limit, k_begin + L.keys_per_split);

  // Q tile -> shared (zero padding rows and columns).
  for (int i = threadIdx.x; i < kRows * (sm.dk_pad / 8); i += kThreads) {
    const int r = i / (sm.dk_pad / 8), c = (i % (sm.dk_pad / 8)) * 8;
    __nv_bfloat16* dst = sq + r * sm.kpitch + c;
    const bool valid = r < tile.rows && c < dk;
    const __nv_bfloat16* src = static_cast<const __nv_bfloat16*>(p.q);
    if (valid) {
      const RowInfo ri = row_info(p, tile, r);
      src += ri.token * p.q_tok_stride + ri.head * p.q_head_stride + c;
    }
    cp_async16(dst, src, valid);
  }
  cp_async_commit();

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
  int row_pos[4];  // causal limit of the 4 rows this warp owns in the softmax phase (-1: padding)
  #pragma unroll
  for (int i = 0; i < 4; ++i)
    row_pos[i] = warp * 4 + i < tile.rows ? row_info(p, tile, warp * 4 + i).pos : -1;

  int buf = 0;
  if (k_begin < k_end) {
    load_tile<KEYS>(p, p.k, p.k_block_stride, p.k_head_stride, p.k_row_stride, smem + sm.k_off(0),
                    sm.kpitch, sm.dk_pad, dk, tile.seq, tile.g, k_begin, k_end);
    if (sm.separate_v)
      load_tile<KEYS>(p, p.v, p.v_block_stride, p.v_head_stride, p.v_row_stride, smem + sm.v_off(0),
                      sm.vpitch, sm.dv_pad, dv, tile.seq, tile.g, k_begin, k_end);
    cp_async_commit();
  }
  for (int j0 = k_begin; j0 < k_end; j0 += KEYS, buf ^= 1) {
    cp_async_wait_all();
    __syncthreads();  // tile `buf` (and Q) landed; everyone is done with buffer buf^1
    if (j0 + KEYS < k_end) {  // prefetch the next tile while this one is computed
      load_tile<KEYS>(p, p.k, p.k_block_stride, p.k_head_stride, p.k_row_stride,
                      smem + sm.k_off(buf ^ 1), sm.kpitch, sm.dk_pad, dk, tile.seq, tile.g, j0 + KEYS, k_end);
      if (sm.separate_v)
        load_tile<KEYS>(p, p.v, p.v_block_stride, p.v_head_stride, p.v_row_stride,
                        smem + sm.v_off(buf ^ 1), sm.vpitch, sm.dv_pad, dv, tile.seq, tile.g, j0 + KEYS, k_end);
      cp_async_commit();
    }
    const __nv_bfloat16* sk = smem + sm.k_off(buf);
    const __nv_bfloat16* sv = sm.separate_v ? smem + sm.v_off(buf) : sk;
    const int vpitch = sm.separate_v ? sm.vpitch : sm.kpitch;

    // S = Q·Kᵀ: warp w computes rows 16·(w/4).., keys (w%4)·KEYS/4 .. + KEYS/4.
    {
      constexpr int NK = KEYS / 32;  // n8 tiles per warp
      const int mt = warp / 4, n_base = (warp % 4) * (KEYS / 4);
      // Two accumulator sets (even and odd k-steps) halve the dependent MMA chain: MLA's
      // 576-wide rows are 36 k-steps, and with only NK chains per warp their latency dominated.
      float s[2][NK][4];
      #pragma unroll
      for (int h = 0; h < 2; ++h)
        #pragma unroll
        for (int n = 0; n < NK; ++n)
          #pragma unroll
          for (int e = 0; e < 4; ++e) s[h][n][e] = 0.f;
      const __nv_bfloat16* qa = sq + (mt * 16 + (lane % 16)) * sm.kpitch + (lane / 16) * 8;
      const __nv_bfloat16* kb = sk + (n_base + (lane % 8)) * sm.kpitch + ((lane / 8) % 2) * 8;
      // Fragments of k-steps k0 and k0 + 16 are loaded before either MMA issues (the asm
      // statements are volatile, so the source order is the issue order).
      struct Frag { uint32_t a[4], b[NK][2]; };
      auto load = [&](Frag& f, int k0) {
        ldmatrix_x4(f.a, qa + k0);
        #pragma unroll
        for (int n = 0; n < NK; ++n) ldmatrix_x2(f.b[n], kb + n * 8 * sm.kpitch + k0);
      };
      auto mma = [&](float (&acc_s)[NK][4], const Frag& f) {
        #pragma unroll
        for (int n = 0; n < NK; ++n) mma_bf16(acc_s[n], f.a, f.b[n][0], f.b[n][1]);
      };
      int k0 = 0;
      for (; k0 + 32 <= sm.dk_pad; k0 += 32) {
        Frag f0, f1;
        load(f0, k0);
        load(f1, k0 + 16);
        mma(s[0], f0);
        mma(s[1], f1);
      }
      if (k0 < sm.dk_pad) {
        Frag f0;
        load(f0, k0);
        mma(s[0], f0);
      }
      #pragma unroll
      for (int n = 0; n < NK; ++n)
        #pragma unroll
        for (int e = 0; e < 4; ++e) s[0][n][e] += s[1][n][e];
      const int r = mt * 16 + lane / 4;
      #pragma unroll
      for (int n = 0; n < NK; ++n) {
        const int c = n_base + n * 8 + (lane % 4) * 2;
        ss[r * (KEYS + 4) + c] = s[0][n][0];
        ss[r * (KEYS + 4) + c + 1] = s[0][n][1];
        ss[(r + 8) * (KEYS + 4) + c] = s[0][n][2];
        ss[(r + 8) * (KEYS + 4) + c + 1] = s[0][n][3];
      }
    }
    __syncthreads();

    // Online softmax: warp w owns rows 4w..4w+3; lanes split the keys.
    #pragma unroll
    for (int i = 0; i < 4; ++i) {
      const int r = warp * 4 + i;
      const int pos = row_pos[i];
      float v[KEYS / 32];
      float mx = kNegInf;
      #pragma unroll
      for (int e = 0; e < KEYS / 32; ++e) {
        const int c = lane + 32 * e, j = j0 + c;
        v[e] = (j < k_end && j <= pos) ? ss[r * (KEYS + 4) + c] * static_cast<float>(p.scale) : kNegInf;
        mx = fmaxf(mx, v[e]);
      }
      #pragma unroll
      for (int o = 16; o > 0; o /= 2) mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, o));
      const float m_new = fmaxf(m_run[i], mx);
      const float alpha = m_new == kNegInf ? 1.f : __expf(m_run[i] - m_new);
      float sum = 0.f;
      #pragma unroll
      for (int e = 0; e < KEYS / 32; ++e) {
        const float pe = v[e] == kNegInf ? 0.f : __expf(v[e] - m_new);
        sum += pe;
        sp[r * (KEYS + 8) + lane + 32 * e] = __float2bfloat16(pe);
      }
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
      for (int k0 = 0; k0 < KEYS; k0 += 16) {
        uint32_t a[2][4];
        #pragma unroll
        for (int mt = 0; mt < 2; ++mt)
          ldmatrix_x4(a[mt], sp + (mt * 16 + (lane % 16)) * (KEYS + 8) + k0 + (lane / 16) * 8);
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
  cp_async_wait_all();
  __syncthreads();

  // Row sums and maxima live with the softmax warps: publish them for the output layout.
  float* sl = ss;               // reuse the score area: [kRows] l, then [kRows] m
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
      const int64_t out_row = ri.token * p.heads + ri.head;
      #pragma unroll
      for (int nt = 0; nt < NT; ++nt) {
        const int c = col0 + nt * 8 + (lane % 4) * 2;
        const float o0 = acc[mt][nt][half * 2], o1 = acc[mt][nt][half * 2 + 1];
        if (L.splits == 1) {
          __nv_bfloat16* dst = static_cast<__nv_bfloat16*>(p.o) + ri.token * p.o_tok_stride +
                               ri.head * p.o_head_stride + c;
          const float inv = l > 0.f ? 1.f / l : 0.f;
          if (c < dv) dst[0] = __float2bfloat16(o0 * inv);
          if (c + 1 < dv) dst[1] = __float2bfloat16(o1 * inv);
        } else {
          float* dst = L.part_o + (static_cast<int64_t>(split) * L.total_tokens * p.heads + out_row) * dv + c;
          const float inv = l > 0.f ? 1.f / l : 0.f;
          if (c < dv) dst[0] = o0 * inv;
          if (c + 1 < dv) dst[1] = o1 * inv;
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

Smem smem_layout(const AttentionParams& p, bool separate_v) {
  Smem sm{};
  sm.dk_pad = round_up(static_cast<int>(p.dk), 16);
  sm.dv_pad = 64 * output_tiles(p);  // every warp's column span stays inside its row
  sm.kpitch = sm.dk_pad + 8;
  sm.vpitch = sm.dv_pad + 8;
  sm.separate_v = separate_v;
  sm.keys = sm.dk_pad <= 640 ? 64 : 32;
  return sm;
}

template <int KEYS, int NT>
void launch_tc(const AttentionParams& p, const PagedLaunch& L, const Smem& sm, cudaStream_t stream) {
  auto kernel = paged_attention_tc<KEYS, NT>;
  cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(sm.bytes()));
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
                   aligned16(p.q) && aligned16(p.k) && aligned16(p.v);
  if (vec) {
    const Smem sm = smem_layout(p, separate_v);
    const int nt = output_tiles(p);
    if (sm.keys == 64) {
      switch (nt) {
        case 2: launch_tc<64, 2>(p, L, sm, stream); break;
        case 4: launch_tc<64, 4>(p, L, sm, stream); break;
        case 8: launch_tc<64, 8>(p, L, sm, stream); break;
        default: launch_tc<64, 16>(p, L, sm, stream); break;
      }
    } else {
      switch (nt) {
        case 2: launch_tc<32, 2>(p, L, sm, stream); break;
        case 4: launch_tc<32, 4>(p, L, sm, stream); break;
        case 8: launch_tc<32, 8>(p, L, sm, stream); break;
        default: launch_tc<32, 16>(p, L, sm, stream); break;
      }
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
