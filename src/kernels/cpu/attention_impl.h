// The CPU attention kernel body, compiled once per instruction set (see attention_kernel.h):
// flash-attention tiling (Dao et al., FlashAttention, Alg. 1) — per work item a tile of query
// rows (tokens × the query heads of one KV head) walks the keys in tiles of kKeys, keeps a
// running row maximum and sum (online softmax) and rescales its output accumulator, so the
// [Tq, Tk] score matrix never exists and causal tiles past the diagonal are never touched.
// Scores, softmax and accumulation run in float32 (float64 for float64 inputs). Fixed tile
// widths let the compiler keep register blocks in vector registers; exp vectorises through
// glibc's libmvec under -ffast-math (masked entries never hold infinities, which fast-math
// would not honour: the running maximum starts at a large finite negative value).
//
// Include only after defining YZ_CPU_ATTENTION_ENTRY (the entry point's name). No headers with
// inline functions may be included here (see attention_kernel.h).
#include <math.h>
#include <stdint.h>

#include "kernels/cpu/attention_kernel.h"

namespace yz::kernels::cpu {
namespace {

constexpr int64_t kKeys = 64;  // keys per tile
constexpr int64_t kRows = 4;   // query rows per register block
constexpr int64_t kCols = 64;  // value columns per register block

struct Bf16 {
  uint16_t bits;
};

inline float get(const float* p) { return *p; }
inline double get(const double* p) { return *p; }
inline float get(const Bf16* p) {
  const uint32_t u = static_cast<uint32_t>(p->bits) << 16;
  float f;
  __builtin_memcpy(&f, &u, sizeof f);
  return f;
}
inline void put(float* p, float v) { *p = v; }
inline void put(double* p, double v) { *p = v; }
inline void put(Bf16* p, float v) {  // round to nearest even, as torch's float -> bfloat16
  uint32_t u;
  __builtin_memcpy(&u, &v, sizeof u);
  u += 0x7fffu + ((u >> 16) & 1u);
  p->bits = static_cast<uint16_t>(u >> 16);
}

template <typename T> struct Compute { using type = float; };
template <> struct Compute<double> { using type = double; };

inline int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }
inline float exp_(float x) { return expf(x); }  // C functions: vectorised by libmvec
inline double exp_(double x) { return exp(x); }

template <typename T>
void attend(const AttentionParams& p, const AttentionWork& w, void* scratch) {
  using C = typename Compute<T>::type;
  const int64_t group = p.heads / p.kv_heads, dk = p.dk, dv = p.dv;
  const int64_t rows = (w.t1 - w.t0) * group;
  const int64_t rows_pad = (rows + kRows - 1) / kRows * kRows;
  const int64_t q_len = p.query_start ? p.query_start[w.seq + 1] - p.query_start[w.seq] : p.q_len;
  const int64_t kv_len = p.kv_lens ? p.kv_lens[w.seq] : p.kv_len;
  const int64_t first_pos = kv_len - q_len;  // position of the sequence's first query token

  C* q = static_cast<C*>(scratch);   // [rows_pad][dk], pre-scaled
  C* kt = q + rows_pad * dk;         // [dk][kKeys], key tile transposed
  C* s = kt + dk * kKeys;            // [rows_pad][kKeys] scores, then probabilities
  C* o = s + rows_pad * kKeys;       // [rows_pad][dv] output accumulator
  C* vt = o + rows_pad * dv;         // [kKeys][dv] value tile
  C* m = vt + kKeys * dv;            // [rows_pad] running maximum
  C* l = m + rows_pad;               // [rows_pad] running sum

  const T* qb = static_cast<const T*>(p.q);
  const T* kb = static_cast<const T*>(p.k);
  const T* vb = static_cast<const T*>(p.v);
  auto q_row = [&](int64_t t, int64_t h) {
    const int64_t tok = p.query_start ? (p.query_start[w.seq] + t) * p.q_tok_stride
                                      : w.seq * p.q_seq_stride + t * p.q_tok_stride;
    return qb + tok + h * p.q_head_stride;
  };
  for (int64_t r = 0; r < rows_pad; ++r) {
    C* dst = q + r * dk;
    if (r < rows) {
      const T* src = q_row(w.t0 + r / group, w.g * group + r % group);
      for (int64_t d = 0; d < dk; ++d) dst[d] = static_cast<C>(get(src + d)) * static_cast<C>(p.scale);
    } else {
      for (int64_t d = 0; d < dk; ++d) dst[d] = 0;
    }
    m[r] = static_cast<C>(-1e30);
    l[r] = 0;
  }
  for (int64_t i = 0; i < rows_pad * dv; ++i) o[i] = 0;

  const int64_t keys = first_pos + w.t1;  // the last row sees keys [0, keys)
  for (int64_t j0 = 0; j0 < keys; j0 += kKeys) {
    const int64_t nk = min64(kKeys, keys - j0);
    for (int64_t jj = 0; jj < nk; ++jj) {  // gather the tile (paged or contiguous rows)
      const int64_t j = j0 + jj;
      const int64_t block = p.block_tables ? p.block_tables[w.seq * p.max_blocks + j / p.block_size]
                                           : w.seq;
      const int64_t off = p.block_tables ? j % p.block_size : j;
      const T* kr = kb + block * p.k_block_stride + w.g * p.k_head_stride + off * p.k_row_stride;
      const T* vr = vb + block * p.v_block_stride + w.g * p.v_head_stride + off * p.v_row_stride;
      for (int64_t d = 0; d < dk; ++d) kt[d * kKeys + jj] = static_cast<C>(get(kr + d));
      C* vdst = vt + jj * dv;
      for (int64_t c = 0; c < dv; ++c) vdst[c] = static_cast<C>(get(vr + c));
    }
    for (int64_t d = 0; d < dk; ++d)
      for (int64_t jj = nk; jj < kKeys; ++jj) kt[d * kKeys + jj] = 0;

    // S = Q · Kᵀ, kRows × kKeys register blocks.
    for (int64_t r0 = 0; r0 < rows_pad; r0 += kRows) {
      C acc[kRows][kKeys] = {};
      for (int64_t d = 0; d < dk; ++d) {
        const C* ktd = kt + d * kKeys;
        C qv[kRows];
        for (int64_t i = 0; i < kRows; ++i) qv[i] = q[(r0 + i) * dk + d];
        for (int64_t i = 0; i < kRows; ++i)
          for (int64_t j = 0; j < kKeys; ++j) acc[i][j] += qv[i] * ktd[j];
      }
      for (int64_t i = 0; i < kRows; ++i)
        for (int64_t j = 0; j < kKeys; ++j) s[(r0 + i) * kKeys + j] = acc[i][j];
    }

    // Online softmax per row over its visible keys; P replaces S, zero where masked.
    for (int64_t r = 0; r < rows_pad; ++r) {
      C* sr = s + r * kKeys;
      const int64_t pos = first_pos + w.t0 + r / group;
      const int64_t valid = r < rows ? min64(nk, pos + 1 - j0) : 0;
      if (valid <= 0) {
        for (int64_t j = 0; j < kKeys; ++j) sr[j] = 0;
        continue;
      }
      C mx = m[r];
      for (int64_t j = 0; j < valid; ++j) mx = sr[j] > mx ? sr[j] : mx;
      const C alpha = exp_(m[r] - mx);
      C sum = 0;
      for (int64_t j = 0; j < valid; ++j) {
        sr[j] = exp_(sr[j] - mx);
        sum += sr[j];
      }
      for (int64_t j = valid; j < kKeys; ++j) sr[j] = 0;
      l[r] = l[r] * alpha + sum;
      m[r] = mx;
      C* orow = o + r * dv;
      for (int64_t c = 0; c < dv; ++c) orow[c] *= alpha;
    }

    // O += P · V, kRows × kCols register blocks, then the remaining columns.
    const int64_t full_cols = dv / kCols * kCols;
    for (int64_t r0 = 0; r0 < rows_pad; r0 += kRows) {
      for (int64_t c0 = 0; c0 < full_cols; c0 += kCols) {
        C acc[kRows][kCols];
        for (int64_t i = 0; i < kRows; ++i)
          for (int64_t c = 0; c < kCols; ++c) acc[i][c] = o[(r0 + i) * dv + c0 + c];
        for (int64_t j = 0; j < nk; ++j) {
          const C* vj = vt + j * dv + c0;
          C pv[kRows];
          for (int64_t i = 0; i < kRows; ++i) pv[i] = s[(r0 + i) * kKeys + j];
          for (int64_t i = 0; i < kRows; ++i)
            for (int64_t c = 0; c < kCols; ++c) acc[i][c] += pv[i] * vj[c];
        }
        for (int64_t i = 0; i < kRows; ++i)
          for (int64_t c = 0; c < kCols; ++c) o[(r0 + i) * dv + c0 + c] = acc[i][c];
      }
      if (full_cols < dv) {
        for (int64_t i = 0; i < kRows; ++i) {
          C* orow = o + (r0 + i) * dv;
          const C* sr = s + (r0 + i) * kKeys;
          for (int64_t j = 0; j < nk; ++j) {
            const C pj = sr[j];
            const C* vj = vt + j * dv;
            for (int64_t c = full_cols; c < dv; ++c) orow[c] += pj * vj[c];
          }
        }
      }
    }
  }

  T* ob = static_cast<T*>(p.o);
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t t = w.t0 + r / group, h = w.g * group + r % group;
    const int64_t tok = p.query_start ? (p.query_start[w.seq] + t) * p.o_tok_stride
                                      : w.seq * p.o_seq_stride + t * p.o_tok_stride;
    T* dst = ob + tok + h * p.o_head_stride;
    const C inv = static_cast<C>(1) / l[r];  // key 0 is always visible: l > 0
    for (int64_t c = 0; c < dv; ++c) put(dst + c, o[r * dv + c] * inv);
  }
}

}  // namespace

void YZ_CPU_ATTENTION_ENTRY(const AttentionParams& p, const AttentionWork& w, void* scratch) {
  switch (p.dtype) {
    case kDTypeF32: attend<float>(p, w, scratch); break;
    case kDTypeF64: attend<double>(p, w, scratch); break;
    case kDTypeBF16: attend<Bf16>(p, w, scratch); break;
    default: break;  // the binding validated the dtype
  }
}

}  // namespace yz::kernels::cpu
