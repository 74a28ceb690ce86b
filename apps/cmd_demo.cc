// `youzhi demo`: the main job on the bundled default model (models/yz-qwen2-gqa-16m): verify the
// checkpoint, convert it to MLA with a layer-adaptive plan at half the KV cache (CPU), and show
// what changed: the per-layer plan, KV bytes per token, concurrent 2k-token sequences in a 1 GiB
// KV pool, perplexity on held-out text before and after, and a generation from the converted
// model.
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
#include "convert/converter.h"
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
// Calibration text (US public documents: State of the Union speeches and SEC filings, 400 kB from
// the model's pretraining corpus); the selection split is held out from it by document.
constexpr const char* kCalibration = "data/demo/calibration_sotu_sec.txt.xz";
constexpr double kDemoBudget = 0.5;  // fraction of the GQA KV cache kept
constexpr int64_t kPoolBytes = int64_t{1} << 30;
constexpr int64_t kSeqTokens = 2048;

void print_kv(const char* label, const ModelConfig& c) {
  const int64_t bytes = c.kv_bytes_per_token_bf16();
  std::printf("   %-9s %5lld KV elements = %6lld bytes per token (bf16); %4lld concurrent %lld-token "
              "sequences in a 1 GiB KV pool\n",
              label, static_cast<long long>(c.kv_elements_per_token()), static_cast<long long>(bytes),
              static_cast<long long>(kPoolBytes / (bytes * kSeqTokens)),
              static_cast<long long>(kSeqTokens));
}

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
  auto out_dir = std::make_shared<std::string>();
  app.add_option("--model", *model, "Model directory (default: the bundled yz-qwen2-gqa-16m)");
  app.add_option("--out", *out_dir,
                 "Converted model directory (default: build/demo/yz-qwen2-mla-half, replaced)");
  return [model, out_dir]() {
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

    std::printf("== tokenizer round trip on held-out text\n");
    tok::Tokenizer tk = tok::Tokenizer::from_file(dir);
    fs::path sample = root / kHeldoutSample;
    YZ_CHECK(fs::is_regular_file(sample), sample.string(), ": held-out sample missing");
    std::string text = read_text_input(sample);
    std::vector<int32_t> ids = tk.encode(text, /*add_special_tokens=*/false);
    const bool exact = tk.decode(ids) == text;
    std::printf("   %zu bytes -> %zu tokens, decode(encode(x)) == x: %s\n", text.size(), ids.size(),
                exact ? "yes" : "NO");
    YZ_CHECK(exact, "tokenizer round trip failed on ", sample.string());

    std::printf("== convert to MLA: adaptive plan (per-layer d_r, r, FreqFold) at %.0f%% of the KV "
                "cache\n", 100 * kDemoBudget);
    ConvertRequest req;
    req.model = dir;
    req.out = out_dir->empty() ? root / "build" / "demo" / "yz-qwen2-mla-half" : fs::path(*out_dir);
    req.overwrite = true;  // the demo's own output, rebuilt on every run
    req.calib = {root / kCalibration};
    req.calibration = {32, kDemoCtx, 42};
    req.selection = {4, kDemoCtx, 7};
    req.eval_files = {sample};
    req.eval_ctx = kDemoCtx;
    req.eval_chunks = 0;
    req.adaptive = "budget";
    req.kv_elements_per_layer = budget_elements_per_layer(c, kDemoBudget);
    req.plan.rope_dim = c.head_dim / 2;
    req.plan.kv_lora_rank = req.kv_elements_per_layer - req.plan.rope_dim;
    req.plan.freqfold = {c.head_dim / req.plan.rope_dim};
    fs::create_directories(req.out.parent_path());
    nlohmann::ordered_json rep = convert_model(req);
    const ModelConfig mla = load_config(req.out);
    std::printf("   layer  d_r    r  FreqFold  cached/token\n");
    for (int64_t l = 0; l < mla.num_hidden_layers; ++l)
      std::printf("   %5lld %4lld %4lld %9lld %13lld\n", static_cast<long long>(l),
                  static_cast<long long>(mla.mla_layers[l].qk_rope_head_dim),
                  static_cast<long long>(mla.mla_layers[l].kv_lora_rank),
                  static_cast<long long>(rep["plan"]["freqfold"][l].get<int64_t>()),
                  static_cast<long long>(mla.mla_layers[l].kv_lora_rank +
                                         mla.mla_layers[l].qk_rope_head_dim));
    const auto& cost = rep["adaptive"]["cost"];
    std::printf("   plan cost: %.0f full-model forward equivalents over %lld selection tokens, "
                "%.1f s\n", cost["full_forward_equivalent"].get<double>(),
                static_cast<long long>(cost["selection_tokens"].get<int64_t>()),
                rep["adaptive"]["wall_s"].get<double>());
    std::printf("   wrote %s\n", req.out.string().c_str());

    std::printf("== KV cache\n");
    print_kv("GQA", c);
    print_kv("MLA", mla);
    std::printf("   %.2fx the concurrent sequences at the same memory\n",
                static_cast<double>(c.kv_bytes_per_token_bf16()) / mla.kv_bytes_per_token_bf16());

    std::printf("== perplexity on held-out text (%lld-token windows)\n", static_cast<long long>(kDemoCtx));
    const std::string name = sample.filename().string();
    for (const char* stage : {"original", "partial_rope", "final"})
      std::printf("   %-13s %8.2f\n", stage, rep["ppl"][stage][name].get<double>());

    std::printf("== generation from the converted model (greedy)\n");
    CausalLm lm = load_causal_lm(req.out, {});
    const std::string prompt = "The Federal Reserve raised interest rates by";
    Sampler greedy({});
    std::vector<int32_t> tail = generate(lm, tk.encode(prompt), kDemoNewTokens, greedy);
    std::printf("   \"%s\" ->%s\n", prompt.c_str(), tk.decode(tail).c_str());
    std::printf("== done in %.1f s\n",
                std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    return 0;
  };
}

}  // namespace yz::apps
