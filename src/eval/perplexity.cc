// Windowed perplexity (see perplexity.h). Log-probabilities in float32, sums in float64.
#include "eval/perplexity.h"

#include <cmath>

#include "util/error.h"
#include "util/progress.h"

namespace yz {

PplResult perplexity(CausalLm& lm, const std::vector<int32_t>& ids, const PplOptions& o) {
  YZ_CHECK(o.ctx >= 2, "--ctx must be at least 2");
  const int64_t available = static_cast<int64_t>(ids.size()) / o.ctx;
  YZ_CHECK(available > 0, "text has ", ids.size(), " tokens, fewer than one window of --ctx ",
           o.ctx);
  const int64_t chunks = o.max_chunks > 0 ? std::min(o.max_chunks, available) : available;
  torch::NoGradGuard no_grad;
  const torch::Device device = lm->model->embed_tokens->weight.device();
  std::vector<int64_t> flat(ids.begin(), ids.begin() + chunks * o.ctx);
  torch::Tensor all = torch::tensor(flat).view({chunks, o.ctx}).to(device);
  PplResult r;
  Progress bar("ppl", chunks * (o.ctx - 1), "tok", o.progress);
  for (int64_t c = 0; c < chunks; c += o.batch) {
    const int64_t b = std::min(o.batch, chunks - c);
    torch::Tensor w = all.narrow(0, c, b);                                 // [b, ctx]
    torch::Tensor logits = lm->forward(w).to(torch::kFloat);               // [b, ctx, V]
    torch::Tensor logp = torch::log_softmax(logits.narrow(1, 0, o.ctx - 1), -1);
    torch::Tensor target = w.narrow(1, 1, o.ctx - 1).unsqueeze(-1);        // [b, ctx-1, 1]
    r.nll -= logp.gather(-1, target).to(torch::kDouble).sum().item<double>();
    r.tokens += b * (o.ctx - 1);
    bar.add(b * (o.ctx - 1));
  }
  bar.finish();
  r.chunks = chunks;
  r.nll /= static_cast<double>(r.tokens);
  r.ppl = std::exp(r.nll);
  return r;
}

}  // namespace yz
