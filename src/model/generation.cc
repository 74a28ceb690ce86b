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
  torch::NoGradGuard no_grad;
  const torch::Device device = lm->model->embed_tokens->weight.device();
  auto row = [&](const std::vector<int32_t>& ids) {
    return torch::tensor(std::vector<int64_t>(ids.begin(), ids.end())).unsqueeze(0).to(device);
  };
  KvCache cache = lm->new_cache(1, static_cast<int64_t>(prompt.size()) + max_new_tokens);
  std::vector<int32_t> out;
  torch::Tensor logits = lm->forward(row(prompt), &cache);
  for (int64_t i = 0; i < max_new_tokens; ++i) {
    const int32_t next = sampler.next(logits[0][-1]);
    out.push_back(next);
    if (on_token) on_token(next);
    if (std::find(stop_ids.begin(), stop_ids.end(), next) != stop_ids.end()) break;
    if (i + 1 < max_new_tokens) logits = lm->forward(row({next}), &cache);
  }
  return out;
}

}  // namespace yz
