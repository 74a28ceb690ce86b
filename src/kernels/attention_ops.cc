// Attention bindings (see attention.h): validate, fill AttentionParams, dispatch to the CPU
// kernel, the CUDA kernels or the eager reference.
#include <ATen/ATen.h>
#include <c10/core/GradMode.h>

#include <cstdlib>
#include <limits>
#include <string>

#include "kernels/attention.h"
#ifdef YZ_WITH_CUDA
#include "kernels/attention_cuda.h"
#endif
#include "kernels/cpu_attention.h"
#include "kernels/params.h"
#include "util/error.h"
#include "util/torch_compat.h"

namespace yz::kernels {

namespace {

int dtype_code(at::ScalarType t) {
  switch (t) {
    case at::kFloat: return kDTypeF32;
    case at::kBFloat16: return kDTypeBF16;
    case at::kDouble: return kDTypeF64;
    default: return -1;
  }
}

bool needs_autograd(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v) {
  return c10::GradMode::is_enabled() && (q.requires_grad() || k.requires_grad() || v.requires_grad());
}

// [Tq, Tk] boolean: query i (position Tk - Tq + i) may see key j.
at::Tensor causal_allowed(int64_t tq, int64_t tk, const at::Device& device) {
  at::Tensor qpos = at::arange(tk - tq, tk, at::TensorOptions().dtype(at::kLong).device(device));
  at::Tensor kpos = at::arange(tk, at::TensorOptions().dtype(at::kLong).device(device));
  return kpos.unsqueeze(0) <= qpos.unsqueeze(1);
}

at::Tensor repeat_kv(const at::Tensor& x, int64_t heads) {  // [B, Hk, T, D] -> [B, heads, T, D]
  const int64_t b = x.size(0), hk = x.size(1), t = x.size(2), d = x.size(3);
  if (hk == heads) return x;
  return x.unsqueeze(2).expand({b, hk, heads / hk, t, d}).reshape({b, heads, t, d});
}

void check_attention_shapes(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v) {
  YZ_CHECK(q.dim() == 4 && k.dim() == 4 && v.dim() == 4, "causal_attention: q, k, v must be 4-D");
  YZ_CHECK(k.size(0) == q.size(0) && v.size(0) == q.size(0) && k.size(2) == v.size(2) &&
               k.size(1) == v.size(1) && k.size(3) == q.size(3),
           "causal_attention: q ", q.sizes(), ", k ", k.sizes(), ", v ", v.sizes(), " disagree");
  YZ_CHECK(q.size(1) % k.size(1) == 0, "causal_attention: ", q.size(1),
           " query heads are not a multiple of ", k.size(1), " KV heads");
  YZ_CHECK(q.size(2) <= k.size(2), "causal_attention: more queries (", q.size(2), ") than keys (",
           k.size(2), ")");
  YZ_CHECK(q.scalar_type() == k.scalar_type() && q.scalar_type() == v.scalar_type() &&
               q.device() == k.device() && q.device() == v.device(),
           "causal_attention: q, k, v differ in dtype or device");
}

// YZ_CPU_ATTENTION=eager runs the eager form on the CPU too: the before/after benchmark
// (bench/run_cpu_ppl_bench.sh) and debugging.
bool cpu_kernel_enabled() {
  static const bool enabled = [] {
    const char* v = std::getenv("YZ_CPU_ATTENTION");
    return v == nullptr || std::string(v) != "eager";
  }();
  return enabled;
}

at::Tensor last_dim_contiguous(const at::Tensor& t) {
  return t.stride(-1) == 1 ? t : t.contiguous();
}

}  // namespace

namespace {

// softmax(q·kᵀ·scale where allowed)·v in plain libtorch; `allowed` broadcasts to [B, Hq, Tq, Tk]
// (undefined: every key). Float32 softmax for 16-bit inputs (transformers' eager path); float64
// stays float64.
at::Tensor eager_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                           const at::Tensor& allowed, double scale) {
  at::Tensor scores = at::matmul(q, repeat_kv(k, q.size(1)).transpose(-2, -1)) * scale;
  if (allowed.defined())
    scores = scores.masked_fill(allowed.logical_not(), -std::numeric_limits<double>::infinity());
  const at::ScalarType acc = q.scalar_type() == at::kDouble ? at::kDouble : at::kFloat;
  return at::matmul(at::softmax(scores, -1, acc).to(q.scalar_type()), repeat_kv(v, q.size(1)));
}

}  // namespace

at::Tensor causal_attention_eager(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                                  double scale) {
  check_attention_shapes(q, k, v);
  const int64_t tq = q.size(2), tk = k.size(2);
  return eager_attention(q, k, v, tq > 1 ? causal_allowed(tq, tk, q.device()) : at::Tensor(), scale);
}

at::Tensor masked_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                            const at::Tensor& allowed, double scale) {
  check_attention_shapes(q, k, v);
  YZ_CHECK(allowed.scalar_type() == at::kBool && allowed.dim() == 4 &&
               (allowed.size(0) == 1 || allowed.size(0) == q.size(0)) && allowed.size(1) == 1 &&
               allowed.size(2) == q.size(2) && allowed.size(3) == k.size(2),
           "masked_attention: mask ", allowed.sizes(), " (", allowed.scalar_type(),
           ") is not a boolean [B, 1, ", q.size(2), ", ", k.size(2), "]");
#if TORCH_VERSION_MAJOR >= 2
  // SDPA takes a boolean mask (true = attend) and differentiates through its memory-efficient
  // kernel on CUDA, without the [B, H, Tq, Tk] float32 scores of the eager form.
  if (q.is_cuda())
    return at::scaled_dot_product_attention(q, repeat_kv(k, q.size(1)), repeat_kv(v, q.size(1)),
                                            allowed.to(q.device()), 0.0, false, scale);
#endif
  return eager_attention(q, k, v, allowed.to(q.device()), scale);
}

at::Tensor causal_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                            double scale) {
  check_attention_shapes(q, k, v);
  // Training on the CPU differentiates through the eager form; on CUDA SDPA below is
  // differentiable (flash / memory-efficient backward) and avoids [B, H, T, T] float32 scores.
  if (needs_autograd(q, k, v) && !q.is_cuda()) return causal_attention_eager(q, k, v, scale);
  if (q.is_cpu() && dtype_code(q.scalar_type()) >= 0 && cpu_kernel_enabled()) {
    at::Tensor qc = last_dim_contiguous(q), kc = last_dim_contiguous(k), vc = last_dim_contiguous(v);
    at::Tensor o = at::empty({q.size(0), q.size(1), q.size(2), v.size(3)}, q.options());
    AttentionParams p{};
    p.q = qc.data_ptr();
    p.q_seq_stride = qc.stride(0), p.q_head_stride = qc.stride(1), p.q_tok_stride = qc.stride(2);
    p.o = o.data_ptr();
    p.o_seq_stride = o.stride(0), p.o_head_stride = o.stride(1), p.o_tok_stride = o.stride(2);
    p.k = kc.data_ptr(), p.v = vc.data_ptr();
    // Contiguous keys: "block" s is sequence s; its rows follow the row stride.
    p.k_block_stride = kc.stride(0), p.k_head_stride = kc.stride(1), p.k_row_stride = kc.stride(2);
    p.v_block_stride = vc.stride(0), p.v_head_stride = vc.stride(1), p.v_row_stride = vc.stride(2);
    p.seqs = q.size(0), p.q_len = q.size(2), p.kv_len = k.size(2), p.block_size = k.size(2);
    p.heads = q.size(1), p.kv_heads = k.size(1), p.dk = q.size(3), p.dv = v.size(3);
    p.scale = scale;
    p.dtype = dtype_code(q.scalar_type());
    cpu::run_attention(p);
    return o;
  }
#if TORCH_VERSION_MAJOR >= 2
  if (q.is_cuda()) {  // flash / memory-efficient SDPA; its is_causal aligns top-left
    const int64_t tq = q.size(2), tk = k.size(2);
    c10::optional<at::Tensor> mask;
    if (tq > 1 && tq != tk) mask = causal_allowed(tq, tk, q.device());
    return at::scaled_dot_product_attention(q, repeat_kv(k, q.size(1)), repeat_kv(v, q.size(1)),
                                            mask, 0.0, tq > 1 && tq == tk, scale);
  }
#endif
  return causal_attention_eager(q, k, v, scale);
}

}  // namespace yz::kernels

namespace yz::kernels {

namespace {
void check_paged(const at::Tensor& q, const at::Tensor& kc, const at::Tensor& vc, const PagedSeqs& s) {
  YZ_CHECK(q.dim() == 3 && kc.dim() == 4 && vc.dim() == 4,
           "paged_attention: q [Hq, N, Dk] and caches [blocks, Hk, block_size, D] expected, got ",
           q.sizes(), ", ", kc.sizes(), ", ", vc.sizes());
  YZ_CHECK(kc.size(0) == vc.size(0) && kc.size(1) == vc.size(1) && kc.size(2) == vc.size(2) &&
               kc.size(3) == q.size(2) && q.size(0) % kc.size(1) == 0,
           "paged_attention: q ", q.sizes(), ", k cache ", kc.sizes(), ", v cache ", vc.sizes(),
           " disagree");
  YZ_CHECK(q.scalar_type() == kc.scalar_type() && q.scalar_type() == vc.scalar_type(),
           "paged_attention: q and cache dtypes differ");
  YZ_CHECK(q.stride(-1) == 1 && kc.stride(-1) == 1 && vc.stride(-1) == 1,
           "paged_attention: last dimensions must be contiguous");
  const int64_t seqs = static_cast<int64_t>(s.kv_lens_host.size());
  YZ_CHECK(static_cast<int64_t>(s.query_start_host.size()) == seqs + 1 &&
               s.query_start_host.back() == q.size(1) && s.block_tables.size(0) == seqs,
           "paged_attention: batch description does not match ", q.size(1), " query tokens");
  for (int64_t i = 0; i < seqs; ++i) {
    const int64_t ql = s.query_start_host[i + 1] - s.query_start_host[i];
    YZ_CHECK(ql >= 0 && ql <= s.kv_lens_host[i] &&
                 s.kv_lens_host[i] <= s.block_tables.size(1) * kc.size(2),
             "paged_attention: sequence ", i, " has ", ql, " queries over ", s.kv_lens_host[i],
             " keys in ", s.block_tables.size(1), " blocks");
  }
}
}  // namespace

at::Tensor paged_attention_reference(const at::Tensor& q, const at::Tensor& k_cache,
                                     const at::Tensor& v_cache, const PagedSeqs& s, double scale) {
  check_paged(q, k_cache, v_cache, s);
  const int64_t bs = k_cache.size(2);
  at::Tensor tables = s.block_tables.cpu().to(at::kLong);
  at::Tensor out = at::empty({q.size(0), q.size(1), v_cache.size(3)}, q.options().dtype(at::kDouble));
  for (size_t i = 0; i + 1 < s.query_start_host.size(); ++i) {
    const int64_t q0 = s.query_start_host[i], ql = s.query_start_host[i + 1] - q0;
    const int64_t len = s.kv_lens_host[i];
    if (ql == 0) continue;
    at::Tensor pos = at::arange(len, at::kLong);
    at::Tensor blocks = tables[i].index_select(0, pos.div(bs, "floor")).to(k_cache.device());
    at::Tensor offs = pos.remainder(bs).to(k_cache.device());
    // [len, Hk, D] -> [1, Hk, len, D]
    at::Tensor k = k_cache.index({blocks, at::indexing::Slice(), offs}).permute({1, 0, 2}).unsqueeze(0);
    at::Tensor v = v_cache.index({blocks, at::indexing::Slice(), offs}).permute({1, 0, 2}).unsqueeze(0);
    at::Tensor qi = q.narrow(1, q0, ql).unsqueeze(0);
    at::Tensor o = causal_attention_eager(qi.to(at::kDouble), k.to(at::kDouble), v.to(at::kDouble), scale);
    out.narrow(1, q0, ql).copy_(o[0]);
  }
  return out;
}

at::Tensor paged_attention(const at::Tensor& q, const at::Tensor& k_cache, const at::Tensor& v_cache,
                           const PagedSeqs& s, double scale) {
  check_paged(q, k_cache, v_cache, s);
  at::Tensor o = at::empty({q.size(0), q.size(1), v_cache.size(3)}, q.options());
  AttentionParams p{};
  p.q = q.data_ptr(), p.q_head_stride = q.stride(0), p.q_tok_stride = q.stride(1);
  p.o = o.data_ptr(), p.o_head_stride = o.stride(0), p.o_tok_stride = o.stride(1);
  p.k = k_cache.data_ptr(), p.v = v_cache.data_ptr();
  p.k_block_stride = k_cache.stride(0), p.k_head_stride = k_cache.stride(1);
  p.k_row_stride = k_cache.stride(2);
  p.v_block_stride = v_cache.stride(0), p.v_head_stride = v_cache.stride(1);
  p.v_row_stride = v_cache.stride(2);
  p.max_blocks = s.block_tables.size(1), p.block_size = k_cache.size(2);
  p.seqs = static_cast<int64_t>(s.kv_lens_host.size());
  p.heads = q.size(0), p.kv_heads = k_cache.size(1), p.dk = q.size(2), p.dv = v_cache.size(3);
  p.scale = scale;
  p.dtype = dtype_code(q.scalar_type());
  YZ_CHECK(p.dtype >= 0, "paged_attention: dtype must be float32, bfloat16 or float64");
  if (q.is_cpu()) {
    at::Tensor tables = s.block_tables.contiguous();
    p.block_tables = tables.data_ptr<int32_t>();
    p.query_start = s.query_start_host.data();
    p.kv_lens = s.kv_lens_host.data();
    cpu::run_attention(p);
    return o;
  }
#ifdef YZ_WITH_CUDA
  YZ_CHECK(p.dtype != kDTypeF64, "paged_attention: float64 runs on the CPU only");
  YZ_CHECK(s.block_tables.is_cuda() && s.kv_lens.is_cuda() && s.query_start.is_cuda(),
           "paged_attention: the batch description must be on the cache's device");
  p.block_tables = s.block_tables.data_ptr<int32_t>();
  p.query_start = s.query_start.data_ptr<int32_t>();
  p.kv_lens = s.kv_lens.data_ptr<int32_t>();
  paged_attention_cuda(p, s, o);
  return o;
#else
  YZ_CHECK(false, "paged_attention: CUDA tensors given but this build has no CUDA kernels");
#endif
}

void prepare_paged_launch(const PagedSeqs& seqs, int64_t heads, int64_t kv_heads, const at::Device& device) {
#ifdef YZ_WITH_CUDA
  if (device.is_cuda()) prepare_paged_launch_cuda(seqs, heads, kv_heads, device);
#else
  (void)seqs, (void)heads, (void)kv_heads, (void)device;
#endif
}

void cache_write_reference(const at::Tensor& rows, const at::Tensor& cache,
                           const at::Tensor& slot_mapping) {
  const int64_t bs = cache.size(2);
  at::Tensor blocks = slot_mapping.div(bs, "floor"), offs = slot_mapping.remainder(bs);
  at::Tensor target = cache;  // a handle to the same storage (index_put_ is non-const in 1.13)
  target.index_put_({blocks, at::indexing::Slice(), offs}, rows.to(cache.scalar_type()));
}

void cache_write(const at::Tensor& rows, const at::Tensor& cache, const at::Tensor& slot_mapping) {
  YZ_CHECK(rows.dim() == 3 && cache.dim() == 4 && rows.size(1) == cache.size(1) &&
               rows.size(2) == cache.size(3) && slot_mapping.dim() == 1 &&
               slot_mapping.size(0) == rows.size(0),
           "cache_write: rows ", rows.sizes(), ", cache ", cache.sizes(), ", slots ",
           slot_mapping.sizes(), " disagree");
  YZ_CHECK(slot_mapping.scalar_type() == at::kLong, "cache_write: slot_mapping must be int64");
  YZ_CHECK(rows.device() == cache.device() && slot_mapping.device() == cache.device(),
           "cache_write: tensors on different devices");
#ifdef YZ_WITH_CUDA
  if (cache.is_cuda() && rows.scalar_type() == cache.scalar_type() &&
      dtype_code(cache.scalar_type()) >= 0 && cache.stride(-1) == 1) {
    cache_write_cuda(rows, cache, slot_mapping);
    return;
  }
#endif
  cache_write_reference(rows, cache, slot_mapping);
}

}  // namespace yz::kernels
