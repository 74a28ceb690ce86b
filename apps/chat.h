// Choosing a model's chat template on the command line, shared by `chat-template` and
// `generate --chat`.
#pragma once

#include <string>

#include "template/chat_template.h"

namespace yz::apps {

// `choice` empty: the model's own template (an error telling what to pass when it has none);
// "chatml": the built-in ChatML template; otherwise a Jinja file. Special tokens come from
// the model's tokenizer_config.json when `model_dir` is given.
tmpl::ChatTemplate resolve_chat_template(const std::string& model_dir, const std::string& choice);

}  // namespace yz::apps
