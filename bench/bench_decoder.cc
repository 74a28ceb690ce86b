// Decoder throughput of the reference implementation: prefill tokens/s (one forward over
// batch x prompt tokens into an empty KV cache) and decode tokens/s (batch x new tokens, one
// token per step, greedy). bench/decoder_hf.py measures transformers the same way.
// Usage: bench_decoder MODEL DEVICE DTYPE BATCH PROMPT_LEN NEW_TOKENS [OUT.json]
#include <torch/torch.h>

#include <chrono>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "model/causal_lm.h"
#include "util/cpu_blas.h"
#include "util/fs.h"

namespace {
double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}
void sync(const torch::Device& d) {
  if (d.is_cuda()) torch::cuda::synchronize();
}
}  // namespace

int main(int argc, char** argv) {
  yz::ensure_openblas_core(argv);
  if (argc < 7) {
    std::fprintf(stderr, "usage: bench_decoder MODEL DEVICE DTYPE BATCH PROMPT_LEN NEW [OUT]\n");
    return 2;
  }
  try {
    const std::string model = argv[1];
    const torch::Device device = yz::parse_device(argv[2]);
    const torch::ScalarType dtype = yz::parse_dtype_name(argv[3]);
    const int64_t batch = std::stoll(argv[4]), prompt = std::stoll(argv[5]), fresh = std::stoll(argv[6]);
    yz::CausalLm lm = yz::load_causal_lm(model, {device, dtype});
    lm->set_mla_path(yz::MlaPath::kAbsorbed);
    torch::NoGradGuard no_grad;
    torch::manual_seed(0);
    torch::Tensor ids = torch::randint(0, lm->config.vocab_size, {batch, prompt}, torch::kLong).to(device);
    double prefill = 1e30, decode = 1e30;
    for (int rep = 0; rep < 3; ++rep) {  // first repetition warms up; keep the best
      yz::KvCache cache = lm->new_cache(batch, prompt + fresh);
      sync(device);
      auto t0 = std::chrono::steady_clock::now();
      torch::Tensor logits = lm->forward(ids, &cache);
      torch::Tensor next = logits.select(1, -1).argmax(-1, true);
      sync(device);
      prefill = std::min(prefill, seconds_since(t0));
      t0 = std::chrono::steady_clock::now();
      for (int64_t i = 0; i < fresh; ++i) next = lm->forward(next, &cache).select(1, -1).argmax(-1, true);
      sync(device);
      decode = std::min(decode, seconds_since(t0));
    }
    nlohmann::json j = {{"impl", "youzhi"}, {"model", model}, {"device", argv[2]}, {"dtype", argv[3]},
                        {"batch", batch}, {"prompt_len", prompt}, {"new_tokens", fresh},
                        {"prefill_tok_s", batch * prompt / prefill},
                        {"decode_tok_s", batch * fresh / decode}};
    std::printf("youzhi       batch %3lld  prefill %10.1f tok/s  decode %9.1f tok/s\n",
                static_cast<long long>(batch), batch * prompt / prefill, batch * fresh / decode);
    if (argc > 7) yz::write_file_atomic(argv[7], j.dump(2) + "\n");
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}
