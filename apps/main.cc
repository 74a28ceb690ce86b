// youzhi: the command-line front end. Parses flags, calls the library, prints. Library errors
// become one "error: ..." line and exit 1; usage errors exit 2 (DEVELOPERS.md contract).
#include <malloc.h>

#include <cstdio>
#include <iostream>
#include <map>

#include "apps/commands.h"
#include "util/cpu_blas.h"
#include "util/error.h"

int main(int argc, char** argv) {
  yz::ensure_openblas_core(argv);
  // libtorch on CPU allocates and frees activation-sized blocks (MBs) at every op; with glibc's
  // defaults each one is a fresh mmap whose pages fault in zeroed, which doubled the wall time
  // of a conversion on 2 cores (measured: 80 s -> 39 s). Keep such blocks in the heap instead.
  mallopt(M_MMAP_THRESHOLD, 32 << 20);
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
  mallopt(M_TOP_PAD, 256 << 20);
  CLI::App app{"YouZhi: convert GQA models to Multi-head Latent Attention and serve them"};
  app.require_subcommand(1);
  // Every --help shows each option's default (subcommands inherit these option defaults).
  app.option_defaults()->always_capture_default();
  app.set_version_flag("--version", std::string("youzhi ") + yz::apps::kVersion);
  std::map<CLI::App*, yz::apps::Command> commands;
  auto add = [&](const char* name, const char* help, auto adder) {
    CLI::App* sub = app.add_subcommand(name, help);
    commands[sub] = adder(*sub);
  };
  add("info", "Print a model's shapes, parameter count and KV-cache size", yz::apps::add_info);
  add("tokenize", "Text -> token ids with a model's tokenizer.json", yz::apps::add_tokenize);
  add("detokenize", "Token ids -> text", yz::apps::add_detokenize);
  add("import-llama2c", "Write a Hugging Face Llama directory from a llama2.c checkpoint",
      yz::apps::add_import_llama2c);
  add("ppl", "Perplexity of a model on a text file (non-overlapping windows)", yz::apps::add_ppl);
  add("generate", "Generate text from a prompt (greedy or seeded sampling)",
      yz::apps::add_generate);
  add("chat-template", "Render a conversation with a model's chat template (prompt and ids)",
      yz::apps::add_chat_template);
  add("logits", "Write the fp32 logits of every position to a .safetensors file",
      yz::apps::add_logits);
  add("eval", "Benchmarks by log-likelihood (lm-eval) and by generation (FinBen/FinLoRA)",
      yz::apps::add_eval);
  add("data",
      "Data sets built from ../shared/data (fpb-train, fin-sft: the financial SFT mixture, "
      "leak-check)",
      yz::apps::add_data);
  add("convert", "Convert a GQA model to Multi-head Latent Attention", yz::apps::add_convert);
  add("demo", "Run the main job on the bundled model", yz::apps::add_demo);
  add("serve", "OpenAI-compatible HTTP server (completions, chat, streaming, /metrics)", yz::apps::add_serve);
  add("bench", "Benchmarks: convert (uniform vs layer-adaptive conversion), throughput (serving engine), "
               "serve (online, against any OpenAI-compatible server)",
      yz::apps::add_bench);
  add("train",
      "Training: train distill (GKD from the original model), train lm (CE), train sft (answers only)",
      yz::apps::add_train);
  add("pipeline", "Run a recipe: convert, heal, SFT and evaluate, resumable, ending with one table",
      yz::apps::add_pipeline);
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::fprintf(stderr, "error: %s\nRun with --help for usage.\n", e.what());
    return 2;
  }
  try {
    for (auto& [sub, run] : commands)
      if (sub->parsed()) return run();
  } catch (const yz::Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return e.kind() == yz::ErrorKind::kUsage ? 2 : 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 2;
}
