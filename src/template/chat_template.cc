// Chat templates of model directories (see chat_template.h). File lookup and the render
// context follow transformers (tokenization_utils_base: chat_template.jinja, the
// additional_chat_templates/ folder, tokenizer_config.json's chat_template;
// apply_chat_template: messages, tools, documents, add_generation_prompt,
// **special_tokens_map, **kwargs).
#include "template/chat_template.h"

#include "util/error.h"
#include "util/json_file.h"

namespace yz::tmpl {

namespace {

const char* kChatml =
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] "
    "+ '<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}"
    "{% endif %}";

// transformers' special_tokens_map: the set special tokens as strings (AddedToken objects
// contribute their "content"), unset and empty ones left out.
Json special_tokens_map(const Json& config, const std::string& where) {
  auto content = [&](const Json& v, const char* key) -> std::string {
    if (v.is_string()) return v.get<std::string>();
    if (v.is_object() && v.contains("content") && v["content"].is_string())
      return v["content"].get<std::string>();
    if (v.is_null()) return "";
    YZ_CHECK(false, where, ": \"", key, "\" must be a string or an AddedToken object");
  };
  Json out = Json::object();
  for (const char* key : {"bos_token", "eos_token", "unk_token", "sep_token", "pad_token",
                          "cls_token", "mask_token"}) {
    if (!config.contains(key)) continue;
    std::string s = content(config[key], key);
    if (!s.empty()) out[key] = s;
  }
  if (config.contains("additional_special_tokens")) {
    const Json& extra = config["additional_special_tokens"];
    YZ_CHECK(extra.is_array() || extra.is_null(), where,
             ": \"additional_special_tokens\" must be a list");
    Json list = Json::array();
    if (extra.is_array())
      for (const Json& t : extra) list.push_back(content(t, "additional_special_tokens"));
    if (!list.empty()) out["additional_special_tokens"] = list;
  }
  return out;
}

std::shared_ptr<const Template> compile_cached(const std::string& source, const std::string& name) {
  return TemplateCache::global().get(source, name);
}

}  // namespace

Json ChatTemplate::read_tokenizer_config(const fs::path& dir) {
  const fs::path path = dir / "tokenizer_config.json";
  if (!fs::is_regular_file(path)) return Json::object();
  Json config = Json::parse(read_json_file(path).dump());
  YZ_CHECK(config.is_object(), path.string(), ": expected a JSON object");
  return config;
}

std::optional<ChatTemplate> ChatTemplate::from_model_dir(const fs::path& dir) {
  YZ_CHECK(fs::is_directory(dir), dir.string(), ": not a model directory");
  const Json config = read_tokenizer_config(dir);
  const std::string config_name = (dir / "tokenizer_config.json").string();
  ChatTemplate t;
  t.set_special_tokens(special_tokens_map(config, config_name));
  const fs::path jinja = dir / "chat_template.jinja";
  if (fs::is_regular_file(jinja)) {
    t.templates_["default"] = compile_cached(read_text_file(jinja), jinja.string());
    const fs::path extra = dir / "additional_chat_templates";
    if (fs::is_directory(extra)) {
      for (const auto& entry : fs::directory_iterator(extra)) {
        if (entry.path().extension() != ".jinja") continue;
        t.templates_[entry.path().stem().string()] =
            compile_cached(read_text_file(entry.path()), entry.path().string());
      }
    }
    return t;
  }
  if (!config.contains("chat_template") || config["chat_template"].is_null()) return std::nullopt;
  const Json& ct = config["chat_template"];
  if (ct.is_string()) {
    t.templates_["default"] = compile_cached(ct.get<std::string>(), config_name + " chat_template");
    return t;
  }
  YZ_CHECK(ct.is_array(), config_name,
           ": \"chat_template\" must be a string or a list of {\"name\", \"template\"}");
  for (const Json& entry : ct) {
    YZ_CHECK(entry.is_object() && entry.contains("name") && entry["name"].is_string() &&
                 entry.contains("template") && entry["template"].is_string(),
             config_name, ": each \"chat_template\" entry needs a string \"name\" and \"template\"");
    const std::string name = entry["name"].get<std::string>();
    t.templates_[name] = compile_cached(entry["template"].get<std::string>(),
                                        config_name + " chat_template '" + name + "'");
  }
  if (t.templates_.empty()) return std::nullopt;
  return t;
}

ChatTemplate ChatTemplate::from_file(const fs::path& path, const Json& tokenizer_config) {
  YZ_CHECK(fs::is_regular_file(path), path.string(), ": no such template file");
  return from_string(read_text_file(path), path.string(), tokenizer_config);
}

ChatTemplate ChatTemplate::from_string(const std::string& source, const std::string& name,
                                       const Json& tokenizer_config) {
  ChatTemplate t;
  t.set_special_tokens(special_tokens_map(tokenizer_config, name));
  t.templates_["default"] = compile_cached(source, name);
  return t;
}

ChatTemplate ChatTemplate::chatml(const Json& tokenizer_config) {
  return from_string(kChatml, "chatml (built-in)", tokenizer_config);
}

const std::string& ChatTemplate::name() const {
  auto it = templates_.find("default");
  return (it != templates_.end() ? it : templates_.begin())->second->name();
}

const Template& ChatTemplate::pick(const std::string& template_name, bool has_tools) const {
  auto names = [&] {
    std::string s;
    for (const auto& kv : templates_) s += (s.empty() ? "" : ", ") + kv.first;
    return s;
  };
  if (!template_name.empty()) {
    auto it = templates_.find(template_name);
    YZ_CHECK(it != templates_.end(), name(), ": no chat template named '", template_name,
             "' (have: ", names(), ")");
    return *it->second;
  }
  if (templates_.size() == 1) return *templates_.begin()->second;
  if (has_tools && templates_.count("tool_use")) return *templates_.at("tool_use");
  auto it = templates_.find("default");
  YZ_CHECK(it != templates_.end(), "this model has several chat templates and none is named "
           "'default'; pick one by name (have: ", names(), ")");
  return *it->second;
}

void ChatTemplate::set_special_tokens(Json tokens) {
  special_tokens_ = std::move(tokens);
  special_token_vars_.clear();
  for (auto it = special_tokens_.begin(); it != special_tokens_.end(); ++it)
    special_token_vars_.emplace_back(it.key(), from_json(it.value()));
}

RenderResult ChatTemplate::render(const Json& messages, const Json& tools,
                                  bool add_generation_prompt, const Json& kwargs,
                                  const std::string& template_name,
                                  const RenderOptions& options) const {
  YZ_CHECK(messages.is_array(), "messages must be a JSON array of message objects");
  YZ_CHECK(tools.is_null() || tools.is_array(), "tools must be null or a JSON array");
  YZ_CHECK(kwargs.is_object(), "template keyword arguments must be a JSON object");
  const Template& t = pick(template_name, !tools.is_null());
  // transformers: render(messages=, tools=, documents=, add_generation_prompt=,
  //                      **special_tokens_map, **kwargs); a kwarg overrides a special token.
  Template::Vars vars;
  vars.reserve(4 + special_token_vars_.size() + kwargs.size());
  try {
    vars.emplace_back("messages", from_json(messages));
    vars.emplace_back("tools", from_json(tools));
    vars.emplace_back("documents", Value::none());
    vars.emplace_back("add_generation_prompt", Value(add_generation_prompt));
    for (const auto& kv : special_token_vars_)
      if (!kwargs.contains(kv.first)) vars.push_back(kv);
    for (auto it = kwargs.begin(); it != kwargs.end(); ++it) {
      const std::string& k = it.key();
      YZ_CHECK(k != "messages" && k != "tools" && k != "documents" && k != "add_generation_prompt",
               "template keyword argument '", k, "' would replace the ", k, " argument");
      vars.emplace_back(k, from_json(it.value()));
    }
  } catch (const EvalError& e) {
    YZ_CHECK(false, t.name(), ": ", e.what());
  }
  return t.render(vars, options);
}

std::string ChatTemplate::assistant_suffix() const {
  static const std::string kProbe = "YZ_ASSISTANT_CONTENT_PROBE";
  const Json messages = Json::array({{{"role", "user"}, {"content", "Hi"}},
                                     {{"role", "assistant"}, {"content", kProbe}}});
  std::string text;
  try {
    text = render(messages).text;
  } catch (const yz::Error&) {
    return "";  // the template refuses this minimal turn: nothing to learn from it
  }
  const size_t p = text.rfind(kProbe);
  if (p == std::string::npos) return "";
  std::string suffix = text.substr(p + kProbe.size());
  while (!suffix.empty() && (suffix.back() == '\n' || suffix.back() == ' ' || suffix.back() == '\t'))
    suffix.pop_back();
  return suffix;
}

}  // namespace yz::tmpl
