// Batched sampling (see sampler.h). Probabilities in float64 like Sampler::next; ties in the
// descending order keep index order (stable sort), as Sampler's comparator does.
#include "serve/sampler.h"

namespace yz::serve {

std::vector<SampledToken> sample_rows(const at::Tensor& logits, const std::vector<Sampler*>& samplers,
                                      bool logprobs, int64_t top_logprobs,
                                      std::vector<std::vector<SampledToken>>* top) {
  const int64_t rows = logits.size(0), vocab = logits.size(1);
  std::vector<int32_t> chosen(rows, 0);
  at::Tensor greedy = logits.argmax(-1).to(at::kCPU);  // first maximum, as Sampler
  std::vector<int64_t> sampled_rows;
  for (int64_t i = 0; i < rows; ++i) {
    if (samplers[i]->params().temperature == 0.0)
      chosen[i] = static_cast<int32_t>(greedy[i].item<int64_t>());
    else
      sampled_rows.push_back(i);
  }
  if (!sampled_rows.empty()) {
    const auto dev = logits.device();
    auto f64 = at::TensorOptions().dtype(at::kDouble).device(dev);
    const int64_t n = static_cast<int64_t>(sampled_rows.size());
    std::vector<double> temp(n), top_p(n), u01(n);
    std::vector<int64_t> top_k(n);
    for (int64_t j = 0; j < n; ++j) {
      const SamplingParams& sp = samplers[sampled_rows[j]]->params();
      temp[j] = sp.temperature;
      top_p[j] = sp.top_p;
      top_k[j] = sp.top_k > 0 ? std::min<int64_t>(sp.top_k, vocab) : vocab;
      u01[j] = samplers[sampled_rows[j]]->next_uniform();
    }
    at::Tensor idx = at::tensor(sampled_rows, at::kLong).to(dev);
    at::Tensor v = logits.index_select(0, idx).to(at::kDouble);  // [n, V]
    auto sorted = at::sort(v, /*stable=*/true, /*dim=*/-1, /*descending=*/true);
    at::Tensor vals = std::get<0>(sorted), order = std::get<1>(sorted);
    at::Tensor col = at::arange(vocab, at::TensorOptions().dtype(at::kLong).device(dev)).unsqueeze(0);
    at::Tensor keep = col < at::tensor(top_k, at::kLong).to(dev).unsqueeze(1);
    at::Tensor t = at::tensor(temp, at::kDouble).to(dev).unsqueeze(1);
    at::Tensor p = at::exp((vals - vals.narrow(1, 0, 1)) / t) * keep;
    at::Tensor mass = at::cumsum(p / p.sum(-1, true), -1);
    // Nucleus: the smallest prefix whose mass reaches top_p (at least one token).
    at::Tensor cut = (mass < at::tensor(top_p, at::kDouble).to(dev).unsqueeze(1)).logical_and(keep)
                         .sum(-1, true) + 1;
    at::Tensor kept = p * (col < at::minimum(cut, keep.sum(-1, true)));
    at::Tensor u = at::tensor(u01, at::kDouble).to(dev) * kept.sum(-1);
    at::Tensor pick = (at::cumsum(kept, -1) <= u.unsqueeze(1)).sum(-1, true);
    pick = at::minimum(pick, at::minimum(cut, keep.sum(-1, true)) - 1);
    at::Tensor tokens = order.gather(1, pick).squeeze(1).to(at::kCPU);
    for (int64_t j = 0; j < n; ++j) chosen[sampled_rows[j]] = static_cast<int32_t>(tokens[j].item<int64_t>());
  }
  std::vector<SampledToken> out(rows);
  for (int64_t i = 0; i < rows; ++i) out[i] = {chosen[i], 0.f};
  if (!logprobs && top_logprobs == 0) return out;
  at::Tensor logp = at::log_softmax(logits.to(at::kFloat), -1);
  at::Tensor ids = at::tensor(std::vector<int64_t>(chosen.begin(), chosen.end()), at::kLong).to(logits.device());
  at::Tensor lp = logp.gather(1, ids.unsqueeze(1)).squeeze(1).to(at::kCPU);
  for (int64_t i = 0; i < rows; ++i) out[i].logprob = lp[i].item<float>();
  if (top_logprobs > 0 && top != nullptr) {
    auto best = at::topk(logp, std::min<int64_t>(top_logprobs, vocab), -1);
    at::Tensor bv = std::get<0>(best).to(at::kCPU), bi = std::get<1>(best).to(at::kCPU);
    top->assign(rows, {});
    for (int64_t i = 0; i < rows; ++i)
      for (int64_t k = 0; k < bv.size(1); ++k)
        (*top)[i].push_back({static_cast<int32_t>(bi[i][k].item<int64_t>()), bv[i][k].item<float>()});
  }
  return out;
}

}  // namespace yz::serve
