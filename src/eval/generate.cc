// Batched-prefill greedy generation (see generate.h).
#include "eval/generate.h"

#include <algorithm>

#include "eval/batching.h"
#include "util/error.h"
#include "util/progress.h"

namespace yz {

std::vector<std::vector<int32_t>> generate_greedy(CausalLm& lm,
                                                  const std::vector<std::vector<int32_t>>& prompts,
                                                  const GenerateOptions& o, const StopRule& done,
                                                  GenerateStats* stats) {
  YZ_CHECK(o.max_new_tokens >= 1 && o.max_length > o.max_new_tokens, "max_length (", o.max_length,
           ") must exceed the new-token limit (", o.max_new_tokens, ")");
  torch::NoGradGuard no_grad;
  const torch::Device device = lm->model->embed_tokens->weight.device();
  GenerateStats st;
  // HFLM.generate_until: max_ctx_len = max_length - max_gen_toks, prompts left-truncated to it.
  const int64_t keep = o.max_length - o.max_new_tokens;
  std::vector<std::vector<int32_t>> rows(prompts.size());
  std::vector<int64_t> lengths;
  for (size_t i = 0; i < prompts.size(); ++i) {
    YZ_CHECK(!prompts[i].empty(), "prompt ", i, " is empty");
    const int64_t cut = std::max<int64_t>(0, static_cast<int64_t>(prompts[i].size()) - keep);
    if (cut > 0) {
      ++st.truncated_docs;
      st.truncated_tokens += cut;
    }
    rows[i].assign(prompts[i].begin() + cut, prompts[i].end());
    lengths.push_back(static_cast<int64_t>(rows[i].size()));
  }
  auto is_stop = [&](int32_t id) {
    return std::find(o.stop_ids.begin(), o.stop_ids.end(), id) != o.stop_ids.end();
  };
  auto finished = [&](size_t i, const std::vector<int32_t>& gen) {
    return is_stop(gen.back()) || static_cast<int64_t>(gen.size()) >= o.max_new_tokens ||
           (done && done(i, gen));
  };
  std::vector<std::vector<int32_t>> out(prompts.size());
  Progress bar("generate", static_cast<int64_t>(prompts.size()), "doc", o.progress);
  for (const auto& batch : length_batches(lengths, o.batch, o.batch_tokens)) {
    std::vector<const std::vector<int32_t>*> batch_rows;
    for (size_t i : batch) batch_rows.push_back(&rows[i]);
    torch::Tensor ids = padded_rows(batch_rows, device);  // [B, L]
    KvCache cache = lm->new_cache(ids.size(0), ids.size(1));
    lm->set_mla_path(MlaPath::kExplicit);  // prefill: expand k/v once for the whole prompt
    torch::Tensor logits = lm->forward(ids, &cache);  // [B, L, V]
    ++st.forwards;
    lm->set_mla_path(MlaPath::kAbsorbed);  // decode: attend over the cached latents
    std::vector<int64_t> last_pos;         // each prompt's last position in the flat [B·L] logits
    for (size_t b = 0; b < batch.size(); ++b)
      last_pos.push_back(static_cast<int64_t>(b) * ids.size(1) + lengths[batch[b]] - 1);
    torch::Tensor first = logits.reshape({-1, logits.size(2)})
                              .index_select(0, torch::tensor(last_pos, torch::kLong).to(device))
                              .argmax(-1)
                              .cpu();  // [B]
    // Prompts of one length sit at the same positions: they decode as one batch from their rows
    // of the prefill cache (the batch is sorted by length, so they are adjacent). Finished rows
    // ride along until the group is done; their tokens are not kept.
    for (size_t g = 0; g < batch.size();) {
      const int64_t len = lengths[batch[g]];
      size_t end = g;
      while (end < batch.size() && lengths[batch[end]] == len) ++end;
      std::vector<int64_t> rows;
      std::vector<bool> live;
      for (size_t b = g; b < end; ++b) {
        std::vector<int32_t>& gen = out[batch[b]];
        gen.push_back(static_cast<int32_t>(first[static_cast<int64_t>(b)].item<int64_t>()));
        rows.push_back(static_cast<int64_t>(b));
        live.push_back(!finished(batch[b], gen));
      }
      if (std::find(live.begin(), live.end(), true) != live.end()) {
        KvCache own = cache.select_rows(rows, len, len + o.max_new_tokens);
        while (std::find(live.begin(), live.end(), true) != live.end()) {
          std::vector<int64_t> last;
          for (size_t b = g; b < end; ++b) last.push_back(out[batch[b]].back());
          torch::Tensor next = torch::tensor(last, torch::kLong).view({-1, 1}).to(device);
          torch::Tensor step = lm->forward(next, &own).argmax(-1).cpu();  // [k, 1]
          ++st.forwards;
          for (size_t k = 0; k < live.size(); ++k) {
            if (!live[k]) continue;
            std::vector<int32_t>& gen = out[batch[g + k]];
            gen.push_back(static_cast<int32_t>(step[static_cast<int64_t>(k)][0].item<int64_t>()));
            live[k] = !finished(batch[g + k], gen);
          }
        }
      }
      for (size_t b = g; b < end; ++b) st.new_tokens += static_cast<int64_t>(out[batch[b]].size());
      bar.add(static_cast<int64_t>(end - g));
      g = end;
    }
  }
  bar.finish();
  lm->set_mla_path(MlaPath::kExplicit);
  if (stats) *stats = st;
  return out;
}

}  // namespace yz
