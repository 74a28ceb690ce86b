// Batched sampling (see sampler.h). Probabilities in float64 like Sampler::next; ties in the
// descending order keep index order (stable sort), as Sampler's comparator does; untruncated
// rows draw in index order, as Sampler::next's fast path.
#include "serve/sampler.h"

namespace yz::serve {

namespace {
// Rows per chunk of the float64 sampling path: each row holds about ten [vocab] float64
// temporaries (sort values and order, probabilities, cumulative mass, ...), 12 MB a row for a
// 152k vocabulary, so a chunk is bounded at about 0.8 GB whatever the batch; all rows at once
// grew the caching allocator to the whole GPU at 1,060 sampled rows (H200 soak, 2026-11-30).
constexpr int64_t kSampleChunk = 64;
// Rows per chunk of the float32 log-softmax for logprobs.
constexpr int64_t kLogprobChunk = 256;

bool truncates(const SamplingParams& sp, int64_t vocab) {
  return (sp.top_k > 0 && sp.top_k < vocab) || sp.top_p < 1.0;
}

// What both paths start from: the chunk's logits in float64, its temperatures and one uniform
// draw per row from the row's own generator, on the logits' device.
struct ChunkInputs {
  at::Tensor v;     // [n, vocab] float64
  at::Tensor temp;  // [n, 1] float64
  at::Tensor u01;   // [n] float64
};

ChunkInputs chunk_inputs(const at::Tensor& logits, const std::vector<Sampler*>& samplers,
                         const std::vector<int64_t>& rows) {
  const int64_t n = static_cast<int64_t>(rows.size());
  const auto dev = logits.device();
  std::vector<double> temp(n), u01(n);
  for (int64_t j = 0; j < n; ++j) {
    temp[j] = samplers[rows[j]]->params().temperature;
    u01[j] = samplers[rows[j]]->next_uniform();
  }
  return {logits.index_select(0, at::tensor(rows, at::kLong).to(dev)).to(at::kDouble),
          at::tensor(temp, at::kDouble).to(dev).unsqueeze(1), at::tensor(u01, at::kDouble).to(dev)};
}

// Rows with nothing truncated (top-k off, top-p 1): Sampler::next draws from the softmax in
// index order, without sorting; the same here, so a seed gives the same token.
void sample_plain_chunk(const at::Tensor& logits, const std::vector<Sampler*>& samplers,
                        const std::vector<int64_t>& rows, std::vector<int32_t>& chosen) {
  const int64_t vocab = logits.size(1);
  const ChunkInputs in = chunk_inputs(logits, samplers, rows);
  at::Tensor p = at::exp((in.v - std::get<0>(in.v.max(-1, true))) / in.temp);
  at::Tensor mass = at::cumsum(p, -1);
  at::Tensor u = in.u01.unsqueeze(1) * mass.narrow(1, vocab - 1, 1);
  // The first index whose running mass passes u; at most the last index of non-zero mass.
  at::Tensor col = at::arange(vocab, at::TensorOptions().dtype(at::kLong).device(logits.device())).unsqueeze(0);
  at::Tensor last = std::get<0>((col * (p > 0)).max(-1, true));
  at::Tensor pick = at::minimum((mass <= u).sum(-1, true), last).squeeze(1).to(at::kCPU);
  const auto picked = pick.accessor<int64_t, 1>();
  for (size_t j = 0; j < rows.size(); ++j) chosen[rows[j]] = static_cast<int32_t>(picked[j]);
}

// Rows with top-k or top-p: stable descending order, top-k, temperature, nucleus, as
// Sampler::next.
void sample_sorted_chunk(const at::Tensor& logits, const std::vector<Sampler*>& samplers,
                         const std::vector<int64_t>& rows, std::vector<int32_t>& chosen) {
  const int64_t vocab = logits.size(1), n = static_cast<int64_t>(rows.size());
  const auto dev = logits.device();
  std::vector<double> top_p(n);
  std::vector<int64_t> top_k(n);
  for (int64_t j = 0; j < n; ++j) {
    const SamplingParams& sp = samplers[rows[j]]->params();
    top_p[j] = sp.top_p;
    top_k[j] = sp.top_k > 0 ? std::min<int64_t>(sp.top_k, vocab) : vocab;
  }
  const ChunkInputs in = chunk_inputs(logits, samplers, rows);
  auto sorted = at::sort(in.v, /*stable=*/true, /*dim=*/-1, /*descending=*/true);
  at::Tensor vals = std::get<0>(sorted), order = std::get<1>(sorted);
  at::Tensor col = at::arange(vocab, at::TensorOptions().dtype(at::kLong).device(dev)).unsqueeze(0);
  at::Tensor keep = col < at::tensor(top_k, at::kLong).to(dev).unsqueeze(1);
  at::Tensor p = at::exp((vals - vals.narrow(1, 0, 1)) / in.temp) * keep;
  at::Tensor mass = at::cumsum(p / p.sum(-1, true), -1);
  // Nucleus: the smallest prefix whose mass reaches top_p (at least one token).
  at::Tensor cut = (mass < at::tensor(top_p, at::kDouble).to(dev).unsqueeze(1)).logical_and(keep)
                       .sum(-1, true) + 1;
  at::Tensor kept = p * (col < at::minimum(cut, keep.sum(-1, true)));
  at::Tensor u = in.u01 * kept.sum(-1);
  at::Tensor pick = (at::cumsum(kept, -1) <= u.unsqueeze(1)).sum(-1, true);
  pick = at::minimum(pick, at::minimum(cut, keep.sum(-1, true)) - 1);
  at::Tensor tokens = order.gather(1, pick).squeeze(1).to(at::kCPU);
  const auto picked = tokens.accessor<int64_t, 1>();
  for (int64_t j = 0; j < n; ++j) chosen[rows[j]] = static_cast<int32_t>(picked[j]);
}
}  // namespace

std::vector<SampledToken> sample_rows(const at::Tensor& logits, const std::vector<Sampler*>& samplers,
                                      bool logprobs, int64_t top_logprobs,
                                      std::vector<std::vector<SampledToken>>* top) {
  const int64_t rows = logits.size(0), vocab = logits.size(1);
  std::vector<int32_t> chosen(rows, 0);
  // Host reads go through accessors: a `t[i].item()` per row is two dispatcher calls (about
  // 1 ms a step at batch 300).
  const at::Tensor greedy_t = logits.argmax(-1).to(at::kCPU);  // first maximum, as Sampler
  const auto greedy = greedy_t.accessor<int64_t, 1>();
  std::vector<int64_t> plain, sorted;  // each sampler draws from its own generator: order is free
  for (int64_t i = 0; i < rows; ++i) {
    const SamplingParams& sp = samplers[i]->params();
    if (sp.temperature == 0.0)
      chosen[i] = static_cast<int32_t>(greedy[i]);
    else
      (truncates(sp, vocab) ? sorted : plain).push_back(i);
  }
  auto in_chunks = [&](const std::vector<int64_t>& of, auto sample) {
    for (size_t c = 0; c < of.size(); c += kSampleChunk)
      sample(logits, samplers, {of.begin() + c, of.begin() + std::min(of.size(), c + kSampleChunk)}, chosen);
  };
  in_chunks(plain, sample_plain_chunk);
  in_chunks(sorted, sample_sorted_chunk);
  std::vector<SampledToken> out(rows);
  for (int64_t i = 0; i < rows; ++i) out[i] = {chosen[i], 0.f};
  if (!logprobs && top_logprobs == 0) return out;
  if (top_logprobs > 0 && top != nullptr) top->assign(rows, {});
  const int64_t k = std::min<int64_t>(top_logprobs, vocab);
  for (int64_t r0 = 0; r0 < rows; r0 += kLogprobChunk) {
    const int64_t n = std::min(kLogprobChunk, rows - r0);
    at::Tensor logp = at::log_softmax(logits.narrow(0, r0, n).to(at::kFloat), -1);
    at::Tensor ids = at::tensor(std::vector<int64_t>(chosen.begin() + r0, chosen.begin() + r0 + n), at::kLong)
                         .to(logits.device());
    const at::Tensor lp_t = logp.gather(1, ids.unsqueeze(1)).squeeze(1).to(at::kCPU);
    const auto lp = lp_t.accessor<float, 1>();
    for (int64_t i = 0; i < n; ++i) out[r0 + i].logprob = lp[i];
    if (top_logprobs > 0 && top != nullptr) {
      auto best = at::topk(logp, k, -1);
      const at::Tensor bv_t = std::get<0>(best).to(at::kCPU), bi_t = std::get<1>(best).to(at::kCPU);
      const auto bv = bv_t.accessor<float, 2>();
      const auto bi = bi_t.accessor<int64_t, 2>();
      for (int64_t i = 0; i < n; ++i)
        for (int64_t j = 0; j < k; ++j) (*top)[r0 + i].push_back({static_cast<int32_t>(bi[i][j]), bv[i][j]});
    }
  }
  return out;
}

}  // namespace yz::serve
