// `youzhi chat-template`: renders a conversation with a model's chat template (or a template
// file) exactly as transformers' apply_chat_template(tokenize=False) would, and with --json
// also the token ids (tokenizer(prompt, add_special_tokens=False), as apply_chat_template's
// tokenize=True does).
#include <cstdio>
#include <nlohmann/json.hpp>

#include "apps/chat.h"
#include "apps/commands.h"
#include "tokenizer/tokenizer.h"
#include "util/error.h"
#include "util/fs.h"

namespace yz::apps {

tmpl::ChatTemplate resolve_chat_template(const std::string& model_dir, const std::string& choice) {
  const tmpl::Json config =
      model_dir.empty() ? tmpl::Json::object() : tmpl::ChatTemplate::read_tokenizer_config(model_dir);
  if (choice == "chatml") return tmpl::ChatTemplate::chatml(config);
  if (!choice.empty()) return tmpl::ChatTemplate::from_file(choice, config);
  std::optional<tmpl::ChatTemplate> own = tmpl::ChatTemplate::from_model_dir(model_dir);
  YZ_CHECK(own, model_dir, ": the model has no chat template (no chat_template.jinja, and no "
           "\"chat_template\" in tokenizer_config.json); pass --chat-template FILE with a Jinja "
           "template, or --chat-template chatml to use ChatML");
  return *own;
}

namespace {

// --messages: a JSON array of messages, or an object with "messages" (and optionally "tools"),
// such as an OpenAI chat completion request.
void read_conversation(const std::string& path, tmpl::Json* messages, tmpl::Json* tools) {
  tmpl::Json j;
  try {
    j = tmpl::Json::parse(read_text_file(path));
  } catch (const nlohmann::json::parse_error& e) {
    YZ_CHECK(false, path, ": not valid JSON: ", e.what());
  }
  if (j.is_object()) {
    YZ_CHECK(j.contains("messages"), path, ": expected a list of messages or an object with \"messages\"");
    if (j.contains("tools")) *tools = j["tools"];
    j = j["messages"];
  }
  YZ_CHECK(j.is_array(), path, ": \"messages\" must be a JSON array");
  for (const auto& m : j)
    YZ_CHECK(m.is_object() && m.contains("role"), path, ": every message must be an object with a \"role\"");
  *messages = j;
}

tmpl::Json parse_json_option(const std::string& text, const char* flag) {
  try {
    return tmpl::Json::parse(text);
  } catch (const nlohmann::json::parse_error& e) {
    YZ_THROW(ErrorKind::kUsage, flag, ": not valid JSON: ", e.what());
  }
}

}  // namespace

Command add_chat_template(CLI::App& app) {
  struct Opts {
    std::string model, template_file, template_name, messages, tools, kwargs = "{}";
    bool add_generation_prompt = false, json = false;
  };
  auto o = std::make_shared<Opts>();
  app.add_option("MODEL", o->model,
                 "Model directory: its chat template, special tokens and (with --json) tokenizer");
  app.add_option("--template-file", o->template_file,
                 "A Jinja template to use instead of the model's (special tokens still come "
                 "from MODEL when given)");
  app.add_option("--template-name", o->template_name,
                 "Which of several named templates (default: tool_use with tools, else default)");
  app.add_option("--messages", o->messages,
                 "JSON file: a list of messages, or an object with \"messages\" (and \"tools\")")
      ->required();
  app.add_option("--tools", o->tools, "JSON file with a list of tool schemas");
  app.add_option("--kwargs", o->kwargs,
                 "Extra template variables as a JSON object, e.g. '{\"enable_thinking\": false}'");
  app.add_flag("--add-generation-prompt", o->add_generation_prompt,
               "End with the start of an assistant turn");
  app.add_flag("--json", o->json,
               "Print {\"prompt\", \"template\", \"generation_spans\", \"ids\"} (ids need MODEL)");
  return [o]() {
    if (o->model.empty() && o->template_file.empty())
      YZ_THROW(ErrorKind::kUsage, "give a MODEL directory or --template-file F");
    const tmpl::Json kwargs = parse_json_option(o->kwargs, "--kwargs");
    if (!kwargs.is_object()) YZ_THROW(ErrorKind::kUsage, "--kwargs must be a JSON object");
    tmpl::Json messages, tools;
    read_conversation(o->messages, &messages, &tools);
    if (!o->tools.empty()) {
      try {
        tools = tmpl::Json::parse(read_text_file(o->tools));
      } catch (const nlohmann::json::parse_error& e) {
        YZ_CHECK(false, o->tools, ": not valid JSON: ", e.what());
      }
      YZ_CHECK(tools.is_array(), o->tools, ": expected a JSON array of tool schemas");
    }
    tmpl::ChatTemplate chat = resolve_chat_template(o->model, o->template_file);
    tmpl::RenderResult r =
        chat.render(messages, tools, o->add_generation_prompt, kwargs, o->template_name);
    if (!o->json) {
      std::fwrite(r.text.data(), 1, r.text.size(), stdout);
      return 0;
    }
    nlohmann::ordered_json out = {{"prompt", r.text}, {"template", chat.name()}};
    nlohmann::json spans = nlohmann::json::array();
    for (const auto& s : r.generation_spans) spans.push_back({s.begin, s.end});
    out["generation_spans"] = spans;
    if (!o->model.empty()) {
      tok::Tokenizer tk = tok::Tokenizer::from_file(o->model);
      out["ids"] = tk.encode(r.text, /*add_special_tokens=*/false);
    }
    std::printf("%s\n", out.dump().c_str());
    return 0;
  };
}

}  // namespace yz::apps
