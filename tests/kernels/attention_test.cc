// Attention kernels against float64 references: the CPU flash-style kernel (contiguous causal
// and paged) over a grid of shapes — GQA/MQA head groups, ragged query lengths, block sizes,
// head dims that are not multiples of the kernel's tiles, strided values (MLA's latent rows
// serve as keys and their first r columns as values) — in float64, float32 and bfloat16; the
// cache writes; the autograd path; and masked_attention (packed training documents). CUDA cases
// run the same checks on the GPU kernels and skip without a device. Tolerances: relative error
// ‖out − ref‖ / ‖ref‖ ≤ 1e-12 (float64), 1e-5 (float32), 2e-2 (bfloat16).
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>
#include <random>

#include "kernels/attention.h"
#include "kernels/ops.h"

namespace yz::kernels {
namespace {

double tolerance(at::ScalarType t) {
  return t == at::kDouble ? 1e-12 : t == at::kFloat ? 1e-5 : 2e-2;
}
double rel_err(const at::Tensor& got, const at::Tensor& want) {
  at::Tensor g = got.cpu().to(at::kDouble), w = want.cpu().to(at::kDouble);
  return ((g - w).norm() / w.norm()).item<double>();
}

struct Shape {
  int64_t b, hq, hk, tq, tk, dk, dv;
};

TEST(CausalAttentionCpu, MatchesFloat64Reference) {
  at::manual_seed(7);
  const std::vector<Shape> shapes = {
      {1, 6, 2, 1, 1, 64, 64},    {2, 6, 2, 1, 37, 64, 64},  {1, 4, 4, 17, 17, 48, 48},
      {3, 6, 1, 5, 70, 96, 80},   {1, 8, 2, 130, 130, 35, 17}, {2, 28, 4, 9, 200, 128, 128},
      {1, 6, 6, 64, 64, 64, 64},  {1, 6, 1, 66, 129, 150, 128}};
  for (at::ScalarType dt : {at::kDouble, at::kFloat, at::kBFloat16})
    for (const Shape& s : shapes) {
      at::Tensor q = at::randn({s.b, s.hq, s.tq, s.dk}, at::kDouble);
      at::Tensor k = at::randn({s.b, s.hk, s.tk, s.dk}, at::kDouble);
      // Values as a strided view into a wider tensor (as MLA's c inside [c ‖ k_pe]).
      at::Tensor vw = at::randn({s.b, s.hk, s.tk, s.dv + 5}, at::kDouble);
      at::Tensor v = vw.narrow(-1, 2, s.dv);
      const double scale = 1.0 / std::sqrt(static_cast<double>(s.dk));
      at::Tensor want = causal_attention_eager(q, k, v, scale);
      at::Tensor got = causal_attention(q.to(dt), k.to(dt), vw.to(dt).narrow(-1, 2, s.dv), scale);
      EXPECT_EQ(got.scalar_type(), dt);
      EXPECT_LE(rel_err(got, want), tolerance(dt))
          << c10::toString(dt) << " b" << s.b << " hq" << s.hq << " hk" << s.hk << " tq" << s.tq
          << " tk" << s.tk << " dk" << s.dk << " dv" << s.dv;
    }
}

TEST(CausalAttentionCpu, EagerReferenceIsTheTextbookFormula) {
  // The reference itself against softmax(qkᵀ/√d + causal) v written out by hand.
  at::manual_seed(3);
  at::Tensor q = at::randn({1, 2, 3, 4}, at::kDouble), k = at::randn({1, 1, 5, 4}, at::kDouble);
  at::Tensor v = at::randn({1, 1, 5, 6}, at::kDouble);
  at::Tensor got = causal_attention_eager(q, k, v, 0.5);
  for (int64_t h = 0; h < 2; ++h)
    for (int64_t i = 0; i < 3; ++i) {
      const int64_t visible = 5 - 3 + i + 1;
      at::Tensor s = (k[0][0].narrow(0, 0, visible).matmul(q[0][h][i])) * 0.5;
      at::Tensor p = at::softmax(s, 0);
      at::Tensor o = p.matmul(v[0][0].narrow(0, 0, visible));
      EXPECT_LE((got[0][h][i] - o).abs().max().item<double>(), 1e-14);
    }
}

TEST(CausalAttentionCpu, GradientPathMatchesFusedForward) {
  at::manual_seed(11);
  at::Tensor q = at::randn({2, 6, 9, 32}).requires_grad_(true);
  at::Tensor k = at::randn({2, 2, 9, 32}).requires_grad_(true);
  at::Tensor v = at::randn({2, 2, 9, 32}).requires_grad_(true);
  at::Tensor out = causal_attention(q, k, v, 0.2);  // autograd: the eager form
  out.pow(2).sum().backward();
  ASSERT_TRUE(q.grad().defined() && k.grad().defined() && v.grad().defined());
  at::NoGradGuard ng;
  EXPECT_LE(rel_err(causal_attention(q.detach(), k.detach(), v.detach(), 0.2), out.detach()), 1e-5);
}

// A paged batch: sequences with `kv_lens` keys of which the last `q_lens` are new queries,
// their blocks scattered over a pool in shuffled order.
struct PagedCase {
  PagedSeqs seqs;
  at::Tensor k_cache, v_cache, q;
  bool mla = false;  // v_cache is a view of k_cache
};

PagedCase paged_case(const std::vector<int32_t>& kv_lens, const std::vector<int32_t>& q_lens,
                     int64_t hq, int64_t hk, int64_t dk, int64_t dv, int64_t block, bool mla,
                     at::ScalarType dt, std::mt19937& rng) {
  PagedCase c;
  int64_t max_blocks = 0, total_blocks = 0;
  for (int32_t n : kv_lens) {
    max_blocks = std::max<int64_t>(max_blocks, (n + block - 1) / block);
    total_blocks += (n + block - 1) / block;
  }
  const int64_t pool = total_blocks + 3;
  std::vector<int32_t> ids(pool);
  std::iota(ids.begin(), ids.end(), 0);
  std::shuffle(ids.begin(), ids.end(), rng);
  std::vector<int32_t> table(kv_lens.size() * max_blocks, 0);
  size_t next = 0;
  for (size_t s = 0; s < kv_lens.size(); ++s)
    for (int64_t b = 0; b < (kv_lens[s] + block - 1) / block; ++b) table[s * max_blocks + b] = ids[next++];
  c.seqs.block_tables = at::tensor(table, at::kInt).view({static_cast<int64_t>(kv_lens.size()), max_blocks});
  c.seqs.kv_lens_host = kv_lens;
  c.seqs.query_start_host = {0};
  for (int32_t n : q_lens) c.seqs.query_start_host.push_back(c.seqs.query_start_host.back() + n);
  c.seqs.kv_lens = at::tensor(kv_lens, at::kInt);
  c.seqs.query_start = at::tensor(c.seqs.query_start_host, at::kInt);
  c.seqs.max_kv_len = *std::max_element(kv_lens.begin(), kv_lens.end());
  c.seqs.max_q_len = *std::max_element(q_lens.begin(), q_lens.end());
  c.mla = mla;
  if (mla) {  // one [c ‖ k_pe] row per token: keys are the rows, values their first dv columns
    at::Tensor rows = at::randn({pool, 1, block, dk}).to(dt);
    c.k_cache = rows;
    c.v_cache = rows.narrow(-1, 0, dv);
  } else {
    c.k_cache = at::randn({pool, hk, block, dk}).to(dt);
    c.v_cache = at::randn({pool, hk, block, dv}).to(dt);
  }
  c.q = at::randn({hq, c.seqs.query_start_host.back(), dk}).to(dt);
  return c;
}

void check_paged(const PagedCase& c, double scale, at::ScalarType dt, const at::Device& dev,
                 const std::string& what) {
  PagedSeqs seqs = c.seqs;
  seqs.block_tables = seqs.block_tables.to(dev);
  seqs.kv_lens = seqs.kv_lens.to(dev);
  seqs.query_start = seqs.query_start.to(dev);
  at::Tensor want = paged_attention_reference(c.q, c.k_cache, c.v_cache, c.seqs, scale);
  at::Tensor k = c.k_cache.to(dev);
  at::Tensor v = c.mla ? k.narrow(-1, 0, c.v_cache.size(-1)) : c.v_cache.to(dev);
  at::Tensor got = paged_attention(c.q.to(dev), k, v, seqs, scale);
  EXPECT_LE(rel_err(got, want), tolerance(dt)) << what;
}

TEST(PagedAttentionCpu, MatchesFloat64ReferenceOverAGrid) {
  std::mt19937 rng(5);
  at::manual_seed(5);
  // Ragged: a decode, a decode after one block exactly, prefill chunks after cached tokens.
  const std::vector<int32_t> kv = {1, 17, 64, 100, 33};
  const std::vector<int32_t> ql = {1, 1, 64, 7, 33};
  for (at::ScalarType dt : {at::kDouble, at::kFloat, at::kBFloat16})
    for (int64_t block : {16, 32, 64}) {
      for (int64_t r : {64, 96, 256, 512})
        for (int64_t dr : {16, 32, 64})
          for (int64_t h : {6, 28, 40}) {
            if (dt != at::kFloat && (r == 256 || h == 40)) continue;  // keep the grid quick
            PagedCase c = paged_case(kv, ql, h, 1, r + dr, r, block, /*mla=*/true, dt, rng);
            check_paged(c, 0.1, dt, at::kCPU,
                        "mla " + std::string(c10::toString(dt)) + " r" + std::to_string(r) + " dr" +
                            std::to_string(dr) + " h" + std::to_string(h) + " bs" + std::to_string(block));
          }
      for (auto [hq, hk, d] : std::vector<std::tuple<int64_t, int64_t, int64_t>>{{6, 2, 64}, {28, 4, 128}, {8, 8, 48}}) {
        PagedCase c = paged_case(kv, ql, hq, hk, d, d, block, /*mla=*/false, dt, rng);
        check_paged(c, 1.0 / std::sqrt(static_cast<double>(d)), dt, at::kCPU,
                    "gqa " + std::string(c10::toString(dt)) + " hq" + std::to_string(hq));
      }
    }
}

// The CUDA kernels on the same grid (bf16: tensor-core kernel; float32: the CUDA-core one),
// against the float64 reference; splits appear through long contexts and small batches.
TEST(PagedAttentionCuda, MatchesFloat64ReferenceOverAGrid) {
  if (!cuda_kernels_built()) GTEST_SKIP() << "built without CUDA kernels";
  if (!cuda_available()) GTEST_SKIP() << "no CUDA device";
  std::mt19937 rng(6);
  at::manual_seed(6);
  const std::vector<std::pair<std::vector<int32_t>, std::vector<int32_t>>> batches = {
      {{1, 17, 64, 100, 33}, {1, 1, 64, 7, 33}},   // ragged decode + prefill chunks
      {{4096}, {1}},                                // one long decode: split-KV
      {{2048, 3000, 1500, 777}, {1, 1, 1, 1}}};     // small decode batch: split-KV
  for (at::ScalarType dt : {at::kBFloat16, at::kFloat})
    for (const auto& [kv, ql] : batches)
      for (int64_t block : {16, 32, 64}) {
        for (int64_t r : {64, 96, 256, 512})
          for (int64_t dr : {16, 32, 64})
            for (int64_t h : {6, 28, 40}) {
              PagedCase c = paged_case(kv, ql, h, 1, r + dr, r, block, /*mla=*/true, dt, rng);
              check_paged(c, 0.1, dt, at::kCUDA,
                          "cuda mla " + std::string(c10::toString(dt)) + " r" + std::to_string(r) +
                              " dr" + std::to_string(dr) + " h" + std::to_string(h) + " bs" +
                              std::to_string(block) + " seqs" + std::to_string(kv.size()));
            }
        for (auto [hq, hk, d] : std::vector<std::tuple<int64_t, int64_t, int64_t>>{{6, 2, 64}, {28, 4, 128}, {40, 8, 128}}) {
          PagedCase c = paged_case(kv, ql, hq, hk, d, d, block, /*mla=*/false, dt, rng);
          check_paged(c, 1.0 / std::sqrt(static_cast<double>(d)), dt, at::kCUDA,
                      "cuda gqa " + std::string(c10::toString(dt)) + " hq" + std::to_string(hq));
        }
      }
}

TEST(CacheWrite, CudaMatchesCpu) {
  if (!cuda_kernels_built()) GTEST_SKIP() << "built without CUDA kernels";
  if (!cuda_available()) GTEST_SKIP() << "no CUDA device";
  at::manual_seed(10);
  for (at::ScalarType dt : {at::kFloat, at::kBFloat16})
    for (int64_t dim : {24, 85, 576}) {  // 16-byte, 2-byte and 16-byte copies
      at::Tensor cache = at::randn({10, 1, 16, dim}).to(dt), rows = at::randn({7, 1, dim}).to(dt);
      at::Tensor slots = at::tensor(std::vector<int64_t>{0, 15, 16, 47, 159, 80, 81}, at::kLong);
      at::Tensor gpu = cache.cuda();
      cache_write(rows.cuda(), gpu, slots.cuda());
      cache_write_reference(rows, cache, slots);
      EXPECT_TRUE(at::equal(gpu.cpu(), cache)) << dim;
    }
}

TEST(CacheWrite, MatchesIndexPut) {
  at::manual_seed(9);
  for (at::ScalarType dt : {at::kFloat, at::kBFloat16}) {
    at::Tensor cache = at::randn({10, 2, 16, 24}).to(dt), ref = cache.clone();
    at::Tensor rows = at::randn({7, 2, 24}).to(dt);
    at::Tensor slots = at::tensor(std::vector<int64_t>{0, 15, 16, 47, 159, 80, 81}, at::kLong);
    cache_write(rows, cache, slots);
    for (int64_t n = 0; n < 7; ++n) {
      const int64_t s = slots[n].item<int64_t>();
      ref[s / 16].select(1, s % 16).copy_(rows[n]);
    }
    EXPECT_TRUE(at::equal(cache, ref));
  }
}

// masked_attention under a block-causal mask (the trainer's packed documents) equals causal
// attention of each document alone, values and gradients; on CUDA (SDPA) as well.
void check_masked_equals_documents_alone(at::Device device, at::ScalarType dt, double tol) {
  at::manual_seed(11);
  const std::vector<int64_t> docs = {5, 1, 9, 3};  // one row of 18 tokens
  const int64_t T = 18, hq = 6, hk = 2, d = 16;
  auto opts = at::TensorOptions().dtype(dt).device(device);
  at::Tensor q = at::randn({1, hq, T, d}, opts).requires_grad_();
  at::Tensor k = at::randn({1, hk, T, d}, opts).requires_grad_();
  at::Tensor v = at::randn({1, hk, T, d}, opts).requires_grad_();
  at::Tensor probe = at::randn({1, hq, T, d}, opts);
  std::vector<int64_t> seg;
  for (size_t i = 0; i < docs.size(); ++i) seg.insert(seg.end(), docs[i], static_cast<int64_t>(i));
  at::Tensor s = at::tensor(seg, at::kLong).to(device);
  at::Tensor allowed = ((s.unsqueeze(1) == s.unsqueeze(0)) &
                        at::ones({T, T}, at::TensorOptions().dtype(at::kBool).device(device)).tril())
                           .view({1, 1, T, T});
  at::Tensor got = masked_attention(q, k, v, allowed, 0.25);
  (got * probe).sum().backward();
  // Reference in float64 on the CPU, one document at a time.
  at::Tensor q64 = q.detach().cpu().to(at::kDouble).requires_grad_();
  at::Tensor k64 = k.detach().cpu().to(at::kDouble).requires_grad_();
  at::Tensor v64 = v.detach().cpu().to(at::kDouble).requires_grad_();
  std::vector<at::Tensor> parts;
  int64_t offset = 0;
  for (int64_t n : docs) {
    parts.push_back(causal_attention_eager(q64.narrow(2, offset, n), k64.narrow(2, offset, n),
                                           v64.narrow(2, offset, n), 0.25));
    offset += n;
  }
  at::Tensor want = at::cat(parts, 2);
  (want * probe.cpu().to(at::kDouble)).sum().backward();
  const at::Tensor grads[] = {q.grad(), k.grad(), v.grad()};
  const at::Tensor want_grads[] = {q64.grad(), k64.grad(), v64.grad()};
  const std::string what = device.str() + " " + c10::toString(dt);
  EXPECT_LE(rel_err(got, want), tol) << what;
  for (int i = 0; i < 3; ++i) EXPECT_LE(rel_err(grads[i], want_grads[i]), tol) << what << " grad " << i;
  // Without the mask the documents see each other: the comparison can fail.
  at::NoGradGuard no_grad;
  EXPECT_GT(rel_err(causal_attention_eager(q64, k64, v64, 0.25), want), 1e-3);
}

TEST(MaskedAttention, BlockCausalEqualsDocumentsAlone) {
  for (at::ScalarType dt : {at::kDouble, at::kFloat})
    check_masked_equals_documents_alone(at::kCPU, dt, tolerance(dt));
  if (cuda_available()) check_masked_equals_documents_alone(at::kCUDA, at::kFloat, 1e-5);
}

TEST(CausalAttentionCuda, GradientThroughSdpaMatchesFloat64Eager) {
  if (!cuda_available()) GTEST_SKIP() << "no CUDA device";
  at::manual_seed(12);
  auto opts = at::TensorOptions().dtype(at::kFloat).device(at::kCUDA);
  at::Tensor q = at::randn({2, 6, 33, 32}, opts).requires_grad_();
  at::Tensor k = at::randn({2, 2, 33, 32}, opts).requires_grad_();
  at::Tensor v = at::randn({2, 2, 33, 32}, opts).requires_grad_();
  at::Tensor probe = at::randn({2, 6, 33, 32}, opts);
  at::Tensor got = causal_attention(q, k, v, 0.2);  // training on CUDA: SDPA's backward
  (got * probe).sum().backward();
  at::Tensor q64 = q.detach().cpu().to(at::kDouble).requires_grad_();
  at::Tensor k64 = k.detach().cpu().to(at::kDouble).requires_grad_();
  at::Tensor v64 = v.detach().cpu().to(at::kDouble).requires_grad_();
  at::Tensor want = causal_attention_eager(q64, k64, v64, 0.2);
  (want * probe.cpu().to(at::kDouble)).sum().backward();
  EXPECT_LE(rel_err(got, want), 1e-5);
  EXPECT_LE(rel_err(q.grad(), q64.grad()), 1e-5);
  EXPECT_LE(rel_err(k.grad(), k64.grad()), 1e-5);
  EXPECT_LE(rel_err(v.grad(), v64.grad()), 1e-5);
}

TEST(MaskedAttention, RejectsAnAdditiveOrMisshapedMask) {
  at::Tensor q = at::randn({1, 2, 4, 8}), k = at::randn({1, 2, 4, 8}), v = at::randn({1, 2, 4, 8});
  EXPECT_ANY_THROW(masked_attention(q, k, v, at::zeros({1, 1, 4, 4}), 1.0));
  EXPECT_ANY_THROW(masked_attention(q, k, v, at::ones({1, 1, 4, 3}, at::kBool), 1.0));
}

}  // namespace
}  // namespace yz::kernels
