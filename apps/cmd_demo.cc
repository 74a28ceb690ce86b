// `youzhi demo`: the main job on the bundled default model (models/yz-qwen2-gqa-16m). At this
// stage of the project that is: open and verify the checkpoint against its config, report the
// KV-cache footprint that MLA conversion will shrink, tokenize held-out text with an exact round
// trip, score it (perplexity) and generate from a prompt with the reference decoder. The
// conversion joins as its issues land.
#include <unistd.h>

#include <chrono>
#include <cstdio>

#include "apps/commands.h"
#include "eval/perplexity.h"
#include "model/causal_lm.h"
#include "model/config.h"
#include "model/generation.h"
#include "model/sampling.h"
#include "model/hf_names.h"
#include "tokenizer/tokenizer.h"
#include "util/error.h"
#include "util/safetensors.h"
#include "util/text_file.h"

namespace yz::apps {

namespace {

constexpr const char* kBundledModel = "yz-qwen2-gqa-16m";
constexpr int64_t kDemoCtx = 256;    // perplexity window (tokens)
constexpr int kDemoNewTokens = 24;   // greedy continuation length
// Held-out general text (first 20 kB of the wikitext-2 test split, CC BY-SA; see data/README.md).
constexpr const char* kHeldoutSample = "data/demo/wikitext2_test_head.txt";

// The repository root: the directory above build/ holding models/ (or the working directory).
fs::path find_root() {
  std::vector<fs::path> roots;
  char exe[4096];
  ssize_t n = ::readlink("/proc/self/exe", exe, sizeof(exe) - 1);
  if (n > 0) {
    exe[n] = '\0';
    roots.push_back(fs::path(exe).parent_path().parent_path() / "models");
  }
  roots.push_back(fs::current_path() / "models");
  for (const auto& r : roots)
    if (fs::is_regular_file(r / kBundledModel / "config.json")) return r.parent_path();
  YZ_CHECK(false, "bundled model ", kBundledModel, " not found under ", roots.front().string(),
           " (run from the repository root, or pass --model)");
}

}  // namespace

Command add_demo(CLI::App& app) {
  auto model = std::make_shared<std::string>();
  app.add_option("--model", *model, "Model directory (default: the bundled yz-qwen2-gqa-16m)");
  return [model]() {
    const auto t0 = std::chrono::steady_clock::now();
    const fs::path root = find_root();
    fs::path dir = model->empty() ? root / "models" / kBundledModel : fs::path(*model);
    std::printf("== model: %s\n", dir.string().c_str());
    const ModelConfig c = load_config(dir);
    Checkpoint ckpt(dir);
    std::vector<std::string> problems = check_checkpoint(c, ckpt);
    for (const auto& p : problems) std::printf("   problem: %s\n", p.c_str());
    YZ_CHECK(problems.empty(), dir.string(), ": checkpoint does not match its config.json");
    std::printf("   %s (%s), %lld layers, %lld query heads / %lld KV heads, head_dim %lld\n",
                c.model_type.c_str(), family_name(c.family),
                static_cast<long long>(c.num_hidden_layers),
                static_cast<long long>(c.num_attention_heads),
                static_cast<long long>(c.num_key_value_heads), static_cast<long long>(c.head_dim));
    std::printf("   %lld parameters in %zu tensors, all present with the shapes config.json "
                "implies\n",
                static_cast<long long>(ckpt.num_params()), ckpt.names().size());

    std::printf("== KV cache (bf16)\n");
    const int64_t bytes = c.kv_bytes_per_token_bf16();
    std::printf("   %lld elements = %lld bytes per token over all layers\n",
                static_cast<long long>(c.kv_elements_per_token()), static_cast<long long>(bytes));
    std::printf("   max concurrent 2048-token sequences in a 1 GiB KV pool: %lld\n",
                static_cast<long long>((int64_t{1} << 30) / (bytes * 2048)));

    std::printf("== tokenizer round trip on held-out text\n");
    tok::Tokenizer tk = tok::Tokenizer::from_file(dir);
    fs::path sample = root / kHeldoutSample;
    YZ_CHECK(fs::is_regular_file(sample), sample.string(), ": held-out sample missing");
    std::string text = read_text_input(sample);
    auto t1 = std::chrono::steady_clock::now();
    std::vector<int32_t> ids = tk.encode(text, /*add_special_tokens=*/false);
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t1).count();
    const bool exact = tk.decode(ids) == text;
    std::printf("   %zu bytes -> %zu tokens (%.2f bytes/token), %.1f MB/s, decode(encode(x)) == "
                "x: %s\n",
                text.size(), ids.size(), static_cast<double>(text.size()) / ids.size(),
                text.size() / secs / 1e6, exact ? "yes" : "NO");
    YZ_CHECK(exact, "tokenizer round trip failed on ", sample.string());
    std::printf("   first tokens: ");
    for (size_t i = 0; i < ids.size() && i < 12; ++i)
      std::printf("%d%s", ids[i], i + 1 < 12 ? " " : "\n");
    std::printf("== reference decoder (CPU, float32)\n");
    CausalLm lm = load_causal_lm(dir, {});
    PplOptions po;
    po.ctx = kDemoCtx;
    po.batch = 4;
    PplResult r = perplexity(lm, ids, po);
    std::printf("   perplexity on the held-out text: %.2f (%lld tokens, windows of %lld)\n", r.ppl,
                static_cast<long long>(r.tokens), static_cast<long long>(kDemoCtx));
    const std::string prompt = "The Federal Reserve raised interest rates by";
    Sampler greedy({});
    std::vector<int32_t> tail = generate(lm, tk.encode(prompt), kDemoNewTokens, greedy);
    std::printf("   greedy: \"%s\" ->%s\n", prompt.c_str(), tk.decode(tail).c_str());
    std::printf("== done in %.1f s\n",
                std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    return 0;
  };
}

}  // namespace yz::apps
