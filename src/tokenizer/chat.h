// Chat prompts. Models ship a Jinja chat template; we recognise the ChatML family (Qwen and our
// in-house models: <|im_start|>role\ncontent<|im_end|>\n) instead of embedding a Jinja engine,
// and refuse other templates by saying so.
#pragma once

#include <string>
#include <vector>

#include "util/fs.h"

namespace yz::tok {

struct ChatMessage {
  std::string role;  // system / user / assistant
  std::string content;
};

// The model directory's template (chat_template.jinja, or tokenizer_config.json "chat_template").
std::string load_chat_template(const fs::path& model_dir);

// Renders `messages` (+ the assistant prefix when add_generation_prompt) as the template would.
std::string apply_chat_template(const std::string& chat_template,
                                const std::vector<ChatMessage>& messages,
                                bool add_generation_prompt);

}  // namespace yz::tok
