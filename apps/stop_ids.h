// Token ids that end a generation beyond config.json's eos_token_id, shared by `generate` and
// `serve`: generation_config.json's eos_token_id (Qwen and Llama 3 list their end-of-turn
// tokens there) and, in chat mode, the token that closes an assistant turn.
#pragma once

#include <cstdint>
#include <vector>

#include "tokenizer/tokenizer.h"
#include "util/fs.h"

namespace yz::apps {

std::vector<int32_t> generation_config_eos(const fs::path& model_dir);
std::vector<int32_t> chat_end_tokens(const tok::Tokenizer& tokenizer);

}  // namespace yz::apps
