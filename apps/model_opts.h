// Model options shared by the commands that run a model (ppl, generate, logits, eval, serve): the
// model directory, --device and --dtype, and the ids that end generation.
#pragma once

#include <CLI/CLI.hpp>
#include <string>
#include <vector>

#include "model/causal_lm.h"
#include "template/chat_template.h"
#include "tokenizer/tokenizer.h"

namespace yz::apps {

// --device / --dtype shared by the model commands. Default dtype: float32 on CPU, bfloat16 on CUDA.
struct ModelOpts {
  std::string model, device = "cpu", dtype;
  // `required`: MODEL must be given (eval's --compare runs without one).
  void add(CLI::App& app, bool required = true);
  CausalLm load() const;
};

// generation_config.json's eos_token_id (Qwen and Llama 3 list their end-of-turn tokens there).
std::vector<int32_t> generation_config_eos(const fs::path& dir);
// The special token the chat template closes an assistant turn with (<|im_end|>, <|eot_id|>,
// ...); empty when that marker is not one special token.
std::vector<int32_t> chat_end_tokens(const tok::Tokenizer& tk, const tmpl::ChatTemplate& chat);
// Token ids that end generation: config eos ids, generation_config.json's, and in chat mode the
// chat template's end-of-turn token.
std::vector<int32_t> stop_ids(const CausalLm& lm, const fs::path& dir, const tok::Tokenizer& tk,
                              const tmpl::ChatTemplate* chat);

}  // namespace yz::apps
