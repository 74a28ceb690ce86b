// ChatML rendering (see chat.h).
#include "tokenizer/chat.h"

#include "util/error.h"
#include "util/json_file.h"

namespace yz::tok {

std::string load_chat_template(const fs::path& dir) {
  if (fs::is_regular_file(dir / "chat_template.jinja")) return read_text_file(dir / "chat_template.jinja");
  if (fs::is_regular_file(dir / "tokenizer_config.json")) {
    nlohmann::json j = read_json_file(dir / "tokenizer_config.json");
    if (j.contains("chat_template") && j["chat_template"].is_string())
      return j["chat_template"].get<std::string>();
  }
  YZ_CHECK(false, dir.string(), ": no chat template (chat_template.jinja or tokenizer_config.json)");
}

std::string apply_chat_template(const std::string& tmpl, const std::vector<ChatMessage>& messages,
                                bool add_generation_prompt) {
  YZ_CHECK(tmpl.find("<|im_start|>") != std::string::npos &&
               tmpl.find("<|im_end|>") != std::string::npos,
           "chat template is not ChatML (<|im_start|> ... <|im_end|>); only ChatML templates are "
           "supported");
  std::string out;
  for (const auto& m : messages) out += "<|im_start|>" + m.role + "\n" + m.content + "<|im_end|>\n";
  if (add_generation_prompt) out += "<|im_start|>assistant\n";
  return out;
}

}  // namespace yz::tok
