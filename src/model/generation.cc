// Generation loop (see generation.h).
#include "model/generation.h"

#include <algorithm>

#include "util/error.h"

namespace yz {

std::vector<int32_t> generate(CausalLm& lm, const std::vector<int32_t>& prompt,
                              int64_t max_new_tokens, Sampler& sampler,
                              const std::vector<int32_t>& stop_ids,
                              const std::function<void(int32_t)>& on_token) {
  YZ_CHECK(!prompt.empty(), "generation needs a non-empty prompt");
  const torch::Device device = lm->model->embed_tokens->weight.device();
  torch::Tensor row =
      torch::tensor(std::vector<int64_t>(prompt.begin(), prompt.end())).unsqueeze(0).to(device);
  BatchGeneration g = generate_batch(lm, row, max_new_tokens, {&sampler}, stop_ids,
                                     [&](const std::vector<int32_t>& next) {
                                       if (on_token) on_token(next[0]);
                                     });
  const int64_t* ids = g.ids.data_ptr<int64_t>();
  return std::vector<int32_t>(ids, ids + g.lengths[0]);
}

BatchGeneration generate_batch(CausalLm& lm, const torch::Tensor& prompts, int64_t max_new_tokens,
                               const std::vector<Sampler*>& samplers,
                               const std::vector<int32_t>& stop_ids,
                               const std::function<void(const std::vector<int32_t>&)>& on_step) {
  const int64_t B = prompts.size(0), P = prompts.size(1);
  YZ_CHECK(P > 0, "generation needs a non-empty prompt");
  YZ_CHECK(static_cast<int64_t>(samplers.size()) == B, "generation needs one sampler per row");
  torch::NoGradGuard no_grad;
  KvCache cache = lm->new_cache(B, P + max_new_tokens);
  BatchGeneration out;
  out.ids = torch::empty({B, max_new_tokens}, torch::kLong);
  out.lengths.assign(B, 0);
  int64_t* ids = out.ids.data_ptr<int64_t>();
  std::vector<bool> stopped(B, false);
  std::vector<int32_t> next(B);
  torch::Tensor logits = lm->forward(prompts, &cache);  // [B, P, vocab]
  for (int64_t i = 0; i < max_new_tokens; ++i) {
    // One device-to-host copy per step; each row then samples from its own CPU row.
    torch::Tensor last = logits.select(1, logits.size(1) - 1).to(torch::kCPU, torch::kDouble);
    for (int64_t b = 0; b < B; ++b) {
      if (stopped[b]) {  // keeps repeating its stop id
        next[b] = static_cast<int32_t>(ids[b * max_new_tokens + i - 1]);
        continue;
      }
      next[b] = samplers[b]->next(last[b]);
      out.lengths[b] = i + 1;
      stopped[b] = std::find(stop_ids.begin(), stop_ids.end(), next[b]) != stop_ids.end();
    }
    for (int64_t b = 0; b < B; ++b) ids[b * max_new_tokens + i] = next[b];
    if (on_step) on_step(next);
    if (std::all_of(stopped.begin(), stopped.end(), [](bool s) { return s; })) {
      for (int64_t b = 0; b < B; ++b)  // the rest of every row repeats its stop id
        for (int64_t j = i + 1; j < max_new_tokens; ++j) ids[b * max_new_tokens + j] = next[b];
      break;
    }
    if (i + 1 < max_new_tokens) {
      torch::Tensor step = torch::tensor(std::vector<int64_t>(next.begin(), next.end()))
                               .unsqueeze(1)
                               .to(prompts.device());
      logits = lm->forward(step, &cache);
    }
  }
  return out;
}

}  // namespace yz
