// `youzhi demo`: the main job on the bundled default model (models/yz-qwen2-gqa-16m): verify the
// checkpoint and tokenizer, then run the pipeline recipe recipes/demo.json (issue 13): convert it
// to MLA with a layer-adaptive plan at half the KV cache, heal the conversion with a short GKD
// run from the original, and evaluate original, conversion and healed model on held-out text and
// a financial task (both protocols); show the per-layer plan, KV bytes per token, concurrent
// 2k-token sequences in a 1 GiB KV pool, a generation from the healed model and the pipeline's
// closing table. Everything runs on the CPU from files in the repository.
#include <unistd.h>

#include <chrono>
#include <cstdio>

#include "apps/commands.h"
#include "model/causal_lm.h"
#include "model/config.h"
#include "model/generation.h"
#include "model/sampling.h"
#include "model/hf_names.h"
#include "pipeline/runner.h"
#include "pipeline/table.h"
#include "tokenizer/tokenizer.h"
#include "util/error.h"
#include "util/json_file.h"
#include "util/safetensors.h"
#include "util/text_file.h"

namespace yz::apps {

namespace {

constexpr const char* kBundledModel = "yz-qwen2-gqa-16m";
constexpr int kDemoNewTokens = 24;  // greedy continuation length
// Held-out general text (first 19 kB of the wikitext-2 test split, CC BY-SA; README "Data").
constexpr const char* kHeldoutSample = "data/demo/wikitext2_test_head.txt";
// The demo's stages and settings: data/demo holds its calibration text and the evaluation files.
constexpr const char* kRecipe = "recipes/demo.json";
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

// The convert stage's per-layer plan, from the converted config and the stage's report.
void print_plan(const ModelConfig& mla, const nlohmann::json& report) {
  std::printf("   layer  d_r    r  FreqFold  cached/token\n");
  for (int64_t l = 0; l < mla.num_hidden_layers; ++l) {
    const auto& layer = mla.mla_layers[l];
    std::printf("   %5lld %4lld %4lld %9lld %13lld\n", static_cast<long long>(l),
                static_cast<long long>(layer.qk_rope_head_dim), static_cast<long long>(layer.kv_lora_rank),
                static_cast<long long>(report["plan"]["freqfold"][l].get<int64_t>()),
                static_cast<long long>(layer.kv_lora_rank + layer.qk_rope_head_dim));
  }
  const auto& cost = report["adaptive"]["cost"];
  std::printf("   plan cost: %.0f full-model forward equivalents over %lld selection tokens, %.1f s\n",
              cost["full_forward_equivalent"].get<double>(),
              static_cast<long long>(cost["selection_tokens"].get<int64_t>()),
              report["adaptive"]["wall_s"].get<double>());
}

}  // namespace

Command add_demo(CLI::App& app) {
  auto model = std::make_shared<std::string>();
  auto out_dir = std::make_shared<std::string>();
  app.add_option("--model", *model, "Model directory (default: the bundled yz-qwen2-gqa-16m)");
  app.add_option("--out", *out_dir,
                 "Run directory, one folder per stage; must not exist (default: build/demo, replaced "
                 "on every run)");
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

    // The recipe's stages run as `youzhi` child processes, each printing its progress.
    pipeline::Recipe recipe = pipeline::load_recipe(root / kRecipe, root / "data" / "demo");
    recipe.model = fs::absolute(dir);
    pipeline::RunOptions run;
    run.out = out_dir->empty() ? root / "build" / "demo" : fs::path(*out_dir);
    run.exe = fs::read_symlink("/proc/self/exe");
    std::printf("== pipeline %s: %s -> %s\n", kRecipe, recipe.name.c_str(), run.out.string().c_str());
    std::fflush(stdout);
    if (out_dir->empty())
      fs::remove_all(run.out);  // the demo's own output, rebuilt on every run
    else
      YZ_CHECK(!fs::exists(run.out), "--out ", run.out.string(), " already exists; pass a new directory");
    const pipeline::Json result = pipeline::run_pipeline(recipe, run);

    const fs::path converted = run.out / "adaptive" / "model";
    const fs::path healed = run.out / "adaptive_gkd" / "model";
    const ModelConfig mla = load_config(converted);
    const nlohmann::json convert_report = read_json_file(run.out / "adaptive" / "stage.json")["results"];
    const nlohmann::json heal_report = read_json_file(run.out / "adaptive_gkd" / "stage.json")["results"];
    std::printf("== adaptive plan (per-layer d_r, r, FreqFold) at half the KV cache\n");
    print_plan(mla, convert_report);
    std::printf("== KV cache\n");
    print_kv("GQA", c);
    print_kv("MLA", mla);
    std::printf("   %.2fx the concurrent sequences at the same memory\n",
                static_cast<double>(c.kv_bytes_per_token_bf16()) / mla.kv_bytes_per_token_bf16());
    std::printf("== heal: GKD from the original, %lld tokens in %lld steps, %.0f tokens/s, final loss %.4f\n",
                static_cast<long long>(heal_report["tokens"].get<int64_t>()),
                static_cast<long long>(heal_report["steps"].get<int64_t>()),
                heal_report["tokens_per_s"].get<double>(), heal_report["loss"].get<double>());

    std::printf("== generation from the healed model (greedy)\n");
    CausalLm lm = load_causal_lm(healed, {});
    const std::string prompt = "The Federal Reserve raised interest rates by";
    Sampler greedy({});
    std::vector<int32_t> tail = generate(lm, tk.encode(prompt), kDemoNewTokens, greedy);
    std::printf("   \"%s\" ->%s\n", prompt.c_str(), tk.decode(tail).c_str());

    std::printf("== results (%s/table.{md,json,svg})\n", run.out.string().c_str());
    std::fputs(pipeline::table_markdown(result["table"]).c_str(), stdout);
    std::printf("== done in %.1f s\n",
                std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    return 0;
  };
}

}  // namespace yz::apps
