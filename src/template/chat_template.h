// A model's chat template, found and rendered the way transformers' apply_chat_template does
// it (tokenize=False): the template text from the model directory, the tokenizer's special
// tokens (bos_token, eos_token, ...) as variables, messages/tools/add_generation_prompt and
// extra keyword arguments. Used by `youzhi chat-template`, `generate --chat`, and the SFT data
// builder and server to come. Compiled templates are shared through TemplateCache::global().
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>

#include "template/template.h"
#include "util/fs.h"

namespace yz::tmpl {

class ChatTemplate {
 public:
  // The chat template of a Hugging Face model directory, or nullopt when it has none:
  //   chat_template.jinja (and additional_chat_templates/NAME.jinja) beside the tokenizer,
  //   else tokenizer_config.json "chat_template": a string, or a list of {"name", "template"}.
  // Special tokens come from tokenizer_config.json. Malformed files throw yz::Error.
  static std::optional<ChatTemplate> from_model_dir(const fs::path& dir);
  // A Jinja file; special tokens from `tokenizer_config` (a tokenizer_config.json object,
  // possibly empty).
  static ChatTemplate from_file(const fs::path& path, const Json& tokenizer_config);
  static ChatTemplate from_string(const std::string& source, const std::string& name,
                                  const Json& tokenizer_config);
  // ChatML (<|im_start|>role\ncontent<|im_end|>\n), for a model without a template, only when
  // the user asks for it explicitly.
  static ChatTemplate chatml(const Json& tokenizer_config);
  // tokenizer_config.json of `dir` (an empty object when there is none).
  static Json read_tokenizer_config(const fs::path& dir);

  // Renders `messages` (a JSON array of message objects). `tools`: null or an array of tool
  // schemas. `kwargs`: extra template variables (enable_thinking, date_string, ...). With
  // several named templates, `template_name` picks one; empty picks "tool_use" when tools are
  // given and the model has it, else "default" (transformers' get_chat_template).
  // Throws RaiseError when the template rejects the conversation, yz::Error otherwise.
  RenderResult render(const Json& messages, const Json& tools = nullptr,
                      bool add_generation_prompt = false, const Json& kwargs = Json::object(),
                      const std::string& template_name = "",
                      const RenderOptions& options = {}) const;

  // What the template writes right after an assistant message's content (e.g. "<|im_end|>",
  // "<|eot_id|>"), trailing whitespace removed: the end-of-turn marker generation should stop
  // at. Empty when the template renders no such turn.
  std::string assistant_suffix() const;

  // The default template's name (its file, for error messages).
  const std::string& name() const;
  // transformers' special_tokens_map: bos_token, eos_token, ... as strings.
  const Json& special_tokens() const { return special_tokens_; }

 private:
  ChatTemplate() = default;
  const Template& pick(const std::string& template_name, bool has_tools) const;
  void set_special_tokens(Json tokens);

  std::map<std::string, std::shared_ptr<const Template>> templates_;  // by name; "default" first
  Json special_tokens_ = Json::object();
  Template::Vars special_token_vars_;  // special_tokens_ converted once
};

}  // namespace yz::tmpl
