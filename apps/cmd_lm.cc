// Commands that run the reference decoder: `youzhi ppl`, `youzhi generate`, `youzhi logits`.
#include <cstdio>
#include <nlohmann/json.hpp>

#include "apps/commands.h"
#include "apps/ids.h"
#include "apps/stop_ids.h"
#include "eval/perplexity.h"
#include "model/causal_lm.h"
#include "model/generation.h"
#include "model/sampling.h"
#include "tokenizer/chat.h"
#include "tokenizer/tokenizer.h"
#include "util/error.h"
#include "util/tensor.h"
#include "util/text_file.h"

namespace yz::apps {

namespace {

// --device / --dtype shared by the model commands. Default dtype: float32 on CPU, bfloat16 on CUDA.
struct ModelOpts {
  std::string model, device = "cpu", dtype;
  void add(CLI::App& app) {
    app.add_option("MODEL", model, "Model directory (config.json, safetensors, tokenizer.json)")
        ->required();
    app.add_option("--device", device, "cpu or cuda[:N]");
    app.add_option("--dtype", dtype, "float32, bfloat16 or float16");
  }
  CausalLm load() const {
    LoadOptions o;
    o.device = parse_device(device);
    o.dtype = parse_dtype_name(dtype.empty() ? (o.device.is_cuda() ? "bfloat16" : "float32") : dtype);
    return load_causal_lm(model, o);
  }
};

torch::Tensor row(const std::vector<int32_t>& ids, const torch::Device& device) {
  return torch::tensor(std::vector<int64_t>(ids.begin(), ids.end())).unsqueeze(0).to(device);
}

// Token ids that end generation: config eos ids, generation_config.json's, and <|im_end|> for chat.
std::vector<int32_t> stop_ids(const CausalLm& lm, const fs::path& dir, const tok::Tokenizer& tk,
                              bool chat) {
  std::vector<int32_t> out(lm->config.eos_token_ids.begin(), lm->config.eos_token_ids.end());
  for (int32_t id : generation_config_eos(dir)) out.push_back(id);
  if (chat)
    for (int32_t id : chat_end_tokens(tk)) out.push_back(id);
  return out;
}

}  // namespace

Command add_ppl(CLI::App& app) {
  struct Opts {
    ModelOpts m;
    std::string text_file, ids;
    int64_t ctx = 1024, max_chunks = 0, batch = 1;
    bool json = false;
  };
  auto o = std::make_shared<Opts>();
  o->m.add(app);
  auto* f = app.add_option("--text-file", o->text_file, "Text to score (.xz accepted)");
  auto* i = app.add_option("--ids", o->ids, "Token ids to score instead: 1,2,3");
  f->excludes(i);
  app.add_option("--ctx", o->ctx, "Window length in tokens (each window scores ctx-1)");
  app.add_option("--max-chunks", o->max_chunks, "Score at most this many windows (0 = all)");
  app.add_option("--batch", o->batch, "Windows per forward pass");
  app.add_flag("--json", o->json, "Print {\"ppl\", \"nll\", \"tokens\", \"chunks\"}");
  return [o, f, i]() {
    if (f->count() == 0 && i->count() == 0)
      YZ_THROW(ErrorKind::kUsage, "give --text-file F or --ids 1,2,3");
    YZ_CHECK(o->ctx >= 2 && o->batch >= 1 && o->max_chunks >= 0,
             "--ctx must be >= 2, --batch >= 1 and --max-chunks >= 0");
    std::vector<int32_t> ids;
    if (f->count()) {
      tok::Tokenizer tk = tok::Tokenizer::from_file(o->m.model);
      ids = tk.encode(read_text_input(o->text_file));
    } else {
      ids = parse_ids(o->ids, "--ids");
    }
    CausalLm lm = o->m.load();
    check_ids_in_range(ids, lm->config.vocab_size);
    PplOptions po;
    po.ctx = o->ctx;
    po.max_chunks = o->max_chunks;
    po.batch = o->batch;
    PplResult r = perplexity(lm, ids, po);
    if (o->json) {
      std::printf("%s\n", nlohmann::json{{"ppl", r.ppl}, {"nll", r.nll}, {"tokens", r.tokens},
                                         {"chunks", r.chunks}, {"ctx", o->ctx}}
                              .dump()
                              .c_str());
    } else {
      std::printf("ppl %.4f  nll %.6f  tokens %lld  (%lld windows of %lld)\n", r.ppl, r.nll,
                  static_cast<long long>(r.tokens), static_cast<long long>(r.chunks),
                  static_cast<long long>(o->ctx));
    }
    return 0;
  };
}

Command add_generate(CLI::App& app) {
  struct Opts {
    ModelOpts m;
    std::string prompt;
    int64_t max_new_tokens = 64;
    SamplingParams sampling;
    bool chat = false, json = false;
  };
  auto o = std::make_shared<Opts>();
  o->m.add(app);
  app.add_option("--prompt", o->prompt, "Prompt text")->required();
  app.add_option("--max-new-tokens", o->max_new_tokens, "Tokens to generate at most");
  app.add_option("--temperature", o->sampling.temperature, "0 = greedy");
  app.add_option("--top-p", o->sampling.top_p, "Nucleus sampling mass");
  app.add_option("--top-k", o->sampling.top_k, "Sample among the k most likely (0 = all)");
  app.add_option("--seed", o->sampling.seed, "Seed: the same seed gives the same tokens");
  app.add_flag("--chat", o->chat, "Wrap the prompt as a user turn with the chat template");
  app.add_flag("--json", o->json, "Print {\"prompt_ids\", \"ids\", \"text\"}");
  return [o]() {
    YZ_CHECK(o->max_new_tokens >= 1, "--max-new-tokens must be >= 1");
    tok::Tokenizer tk = tok::Tokenizer::from_file(o->m.model);
    std::string prompt = o->prompt;
    if (o->chat)
      prompt = tok::apply_chat_template(tok::load_chat_template(o->m.model),
                                        {{"user", o->prompt}}, /*add_generation_prompt=*/true);
    std::vector<int32_t> prompt_ids = tk.encode(prompt);
    YZ_CHECK(!prompt_ids.empty(), "the prompt tokenizes to nothing");
    CausalLm lm = o->m.load();
    lm->set_mla_path(MlaPath::kAbsorbed);
    const std::vector<int32_t> stops = stop_ids(lm, o->m.model, tk, o->chat);
    Sampler sampler(o->sampling);
    tok::IncrementalDecoder stream(tk, /*skip_special_tokens=*/true);
    std::vector<int32_t> out = generate(lm, prompt_ids, o->max_new_tokens, sampler, stops,
                                        [&](int32_t id) {
                                          if (o->json) return;
                                          std::fputs(stream.step(id).c_str(), stdout);
                                          std::fflush(stdout);
                                        });
    if (o->json) {
      std::printf("%s\n", nlohmann::json{{"prompt_ids", prompt_ids}, {"ids", out},
                                         {"text", tk.decode(out, true)}}
                              .dump()
                              .c_str());
    } else {
      std::printf("%s\n", stream.flush().c_str());
    }
    return 0;
  };
}

Command add_logits(CLI::App& app) {
  struct Opts {
    ModelOpts m;
    std::string ids, out;
    bool overwrite = false;
  };
  auto o = std::make_shared<Opts>();
  o->m.add(app);
  app.add_option("--ids", o->ids, "Token ids: 1,2,3")->required();
  app.add_option("--out", o->out, "Output .safetensors (logits [T, vocab] float32, input_ids)")
      ->required();
  app.add_flag("--overwrite", o->overwrite, "Replace an existing output file");
  return [o]() {
    YZ_CHECK(o->overwrite || !fs::exists(o->out), "output ", o->out,
             " already exists; pass --overwrite to replace it");
    std::vector<int32_t> ids = parse_ids(o->ids, "--ids");
    YZ_CHECK(!ids.empty(), "--ids is empty");
    CausalLm lm = o->m.load();
    check_ids_in_range(ids, lm->config.vocab_size);
    torch::NoGradGuard no_grad;
    torch::Tensor x = row(ids, lm->model->embed_tokens->weight.device());
    torch::Tensor logits = lm->forward(x)[0].to(torch::kFloat);
    save_safetensors(o->out, {{"logits", logits}, {"input_ids", x[0].cpu()}},
                     {{"model", o->m.model}});
    std::printf("wrote %s: logits [%lld, %lld]\n", o->out.c_str(),
                static_cast<long long>(logits.size(0)), static_cast<long long>(logits.size(1)));
    return 0;
  };
}

}  // namespace yz::apps
