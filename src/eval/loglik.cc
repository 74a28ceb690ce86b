// Shared-prefix log-likelihood scoring (see loglik.h). Log-probabilities in float32 (lm-eval's
// softmax_dtype default), sums in float64.
#include "eval/loglik.h"

#include <algorithm>
#include <map>
#include <optional>

#include "eval/batching.h"
#include "util/error.h"
#include "util/progress.h"

namespace yz {

namespace {

// Continuations of one request that share the same (possibly truncated) context.
// The longest continuation rides in the context's own row (context + its tokens but the last):
// the logits at the context's last position are the same for every choice, so its whole score
// and every other choice's first token come from that one forward. The other multi-token
// continuations ("cached") continue from the context's KV cache in a second forward.
struct Unit {
  size_t request = 0;
  std::vector<size_t> conts;  // indices into the request's continuations
  size_t rider = 0;           // the continuation read from the first forward in full
  int64_t drop = 0;           // context tokens cut from the left
  std::vector<int32_t> row;   // what the first forward reads: kept context + rider[:-1]
  int64_t ctx_len = 0;        // kept context tokens
  bool cached = false;        // another continuation has more than one token
};

// Continuation tokens to score from one logits tensor, gathered so that one log_softmax over
// the rows they need serves them all.
struct Picks {
  std::vector<int64_t> rows;               // flat logits rows [B·T]
  std::vector<int64_t> tokens;             // the token each row must predict
  std::vector<ContinuationScore*> scores;  // where its log-probability goes

  void add(int64_t row, int32_t token, ContinuationScore* score) {
    rows.push_back(row);
    tokens.push_back(token);
    scores.push_back(score);
  }
  // flat: [N, V] logits in any dtype.
  void score(const torch::Tensor& flat) {
    if (rows.empty()) return;
    const torch::Device dev = flat.device();
    torch::Tensor lp = torch::log_softmax(
        flat.index_select(0, torch::tensor(rows, torch::kLong).to(dev)).to(torch::kFloat), -1);
    torch::Tensor t = torch::tensor(tokens, torch::kLong).to(dev).unsqueeze(1);
    torch::Tensor picked = lp.gather(1, t).squeeze(1).to(torch::kDouble).cpu().contiguous();
    torch::Tensor argmax = lp.argmax(-1).cpu().contiguous();
    const double* p = picked.data_ptr<double>();
    const int64_t* a = argmax.data_ptr<int64_t>();
    for (size_t i = 0; i < rows.size(); ++i) {
      scores[i]->logprob += p[i];
      scores[i]->greedy = scores[i]->greedy && a[i] == tokens[i];
      ++scores[i]->tokens;
    }
  }
};

}  // namespace

std::vector<std::vector<ContinuationScore>> score_loglik(CausalLm& lm,
                                                         const std::vector<LoglikRequest>& requests,
                                                         const LoglikOptions& o,
                                                         LoglikStats* stats) {
  YZ_CHECK(o.max_length >= 2 && o.batch >= 1, "max length must be >= 2 and batch >= 1");
  torch::NoGradGuard no_grad;
  const torch::Device device = lm->model->embed_tokens->weight.device();
  LoglikStats st;
  std::vector<std::vector<ContinuationScore>> out(requests.size());
  std::vector<Unit> units;
  for (size_t r = 0; r < requests.size(); ++r) {
    const LoglikRequest& req = requests[r];
    YZ_CHECK(!req.context.empty() && !req.continuations.empty(), "request ", r,
             " needs a context and at least one continuation");
    out[r].resize(req.continuations.size());
    // HFLM._loglikelihood_tokens: inp = (context + continuation)[-(max_length + 1):][:-1]
    std::map<int64_t, Unit> by_drop;
    for (size_t j = 0; j < req.continuations.size(); ++j) {
      const auto& c = req.continuations[j];
      YZ_CHECK(!c.empty() && static_cast<int64_t>(c.size()) <= o.max_length, "request ", r,
               ": continuation of ", c.size(), " tokens (needs 1 to ", o.max_length, ")");
      const int64_t total = static_cast<int64_t>(req.context.size() + c.size());
      const int64_t drop = std::max<int64_t>(0, total - (o.max_length + 1));
      by_drop[drop].conts.push_back(j);
    }
    const int64_t cut = by_drop.rbegin()->first;
    if (cut > 0) {
      ++st.truncated_docs;
      st.truncated_tokens += cut;
    }
    for (auto& [drop, u] : by_drop) {
      u.request = r;
      u.drop = drop;
      u.row.assign(req.context.begin() + drop, req.context.end());
      u.ctx_len = static_cast<int64_t>(u.row.size());
      u.rider = u.conts.front();
      for (size_t j : u.conts)
        if (req.continuations[j].size() > req.continuations[u.rider].size()) u.rider = j;
      const auto& rider = req.continuations[u.rider];
      u.row.insert(u.row.end(), rider.begin(), rider.end() - 1);
      for (size_t j : u.conts)
        u.cached = u.cached || (j != u.rider && req.continuations[j].size() > 1);
      units.push_back(std::move(u));
    }
  }
  std::vector<int64_t> lengths;
  for (const Unit& u : units) lengths.push_back(static_cast<int64_t>(u.row.size()));
  // Units are documents, except that a truncated document whose choices keep different context
  // lengths counts once per distinct context.
  Progress bar("score", static_cast<int64_t>(units.size()), "doc", o.progress);
  for (const auto& batch : length_batches(lengths, o.batch, o.batch_tokens)) {
    std::vector<const std::vector<int32_t>*> rows;
    bool need_cache = false;
    for (size_t i : batch) {
      rows.push_back(&units[i].row);
      need_cache = need_cache || units[i].cached;
    }
    torch::Tensor ids = padded_rows(rows, device);  // [B, L]
    const int64_t B = ids.size(0), L = ids.size(1);
    std::optional<KvCache> cache;
    if (need_cache) cache.emplace(lm->new_cache(B, L));
    torch::Tensor logits = lm->forward(ids, cache ? &*cache : nullptr);  // [B, L, V]
    ++st.forwards;
    Picks picks;
    std::map<int64_t, std::vector<int64_t>> cached_by_len;  // context length -> batch rows
    for (int64_t b = 0; b < B; ++b) {
      const Unit& u = units[batch[b]];
      const LoglikRequest& req = requests[u.request];
      const int64_t last = b * L + u.ctx_len - 1;  // predicts the first continuation token
      for (size_t j : u.conts) {
        const auto& c = req.continuations[j];
        const size_t read = j == u.rider ? c.size() : 1;
        for (size_t t = 0; t < read; ++t)
          picks.add(last + static_cast<int64_t>(t), c[t], &out[u.request][j]);
      }
      if (u.cached) cached_by_len[u.ctx_len].push_back(b);
    }
    // The other multi-token continuations of the documents whose contexts have one length run as
    // one batch: cache row b repeated once per such choice, tokens c[0..m-2] in (right-padded),
    // the logits of c[1..m-1] out.
    for (const auto& [ctx_len, group] : cached_by_len) {
      std::vector<int64_t> rows;
      std::vector<std::vector<int32_t>> tails;
      std::vector<std::pair<const std::vector<int32_t>*, ContinuationScore*>> targets;
      size_t width = 0;
      for (int64_t b : group) {
        const Unit& u = units[batch[b]];
        for (size_t j : u.conts) {
          const auto& c = requests[u.request].continuations[j];
          if (j == u.rider || c.size() == 1) continue;  // already scored by the first forward
          rows.push_back(b);
          tails.emplace_back(c.begin(), c.end() - 1);
          targets.emplace_back(&c, &out[u.request][j]);
          width = std::max(width, tails.back().size());
        }
      }
      std::vector<const std::vector<int32_t>*> tail_rows;
      for (const auto& t : tails) tail_rows.push_back(&t);
      const int64_t n = static_cast<int64_t>(rows.size()), w = static_cast<int64_t>(width);
      KvCache shared = cache->select_rows(rows, ctx_len, ctx_len + w);
      torch::Tensor tail_logits = lm->forward(padded_rows(tail_rows, device), &shared);  // [n,w,V]
      ++st.forwards;
      Picks tail_picks;
      for (int64_t k = 0; k < n; ++k) {
        const auto& c = *targets[k].first;
        for (size_t t = 1; t < c.size(); ++t)
          tail_picks.add(k * w + static_cast<int64_t>(t) - 1, c[t], targets[k].second);
      }
      tail_picks.score(tail_logits.reshape({n * w, tail_logits.size(2)}));
    }
    picks.score(logits.reshape({B * L, logits.size(2)}));
    bar.add(B);
  }
  bar.finish();
  if (stats) *stats = st;
  return out;
}

}  // namespace yz
