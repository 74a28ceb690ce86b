// SFT rows into ids and assistant-only loss masks (see sft_data.h).
#include "train/sft_data.h"

#include <algorithm>

#include "eval/formats.h"
#include "eval/prompt.h"
#include "util/error.h"

namespace yz::train {

namespace {

bool is_prefix(const std::vector<int32_t>& p, const std::vector<int32_t>& s) {
  return p.size() <= s.size() && std::equal(p.begin(), p.end(), s.begin());
}

tmpl::RenderResult render_checked(const tmpl::ChatTemplate& chat, const tmpl::Json& messages,
                                  bool add_generation_prompt, const std::string& where) {
  try {
    return chat.render(messages, nullptr, add_generation_prompt);
  } catch (const tmpl::RaiseError& e) {
    YZ_THROW(ErrorKind::kInvalidInput, where, ": the chat template ", chat.name(),
             " rejects this conversation: ", e.message());
  } catch (const Error& e) {
    YZ_THROW(ErrorKind::kInvalidInput, where, ": ", e.what());
  }
}

SftFormat detect_format(const nlohmann::json& row, const std::string& where) {
  if (row.contains("messages")) return SftFormat::kChat;
  if (row.contains("instruction")) return SftFormat::kInstruct;
  if (row.contains("context")) return SftFormat::kCompletion;
  YZ_THROW(ErrorKind::kInvalidInput, where,
           ": cannot tell the SFT format: expected \"messages\" (chat), \"instruction\"/\"output\" "
           "(instruct) or \"context\"/\"target\" (completion)");
}

}  // namespace

SftFormat parse_sft_format(const std::string& name) {
  if (name == "chat") return SftFormat::kChat;
  if (name == "instruct") return SftFormat::kInstruct;
  if (name == "completion") return SftFormat::kCompletion;
  YZ_THROW(ErrorKind::kUsage, "unknown --format '", name, "' (use chat, instruct or completion)");
}

const char* sft_format_name(SftFormat format) {
  switch (format) {
    case SftFormat::kChat: return "chat";
    case SftFormat::kInstruct: return "instruct";
    case SftFormat::kCompletion: return "completion";
  }
  return "?";
}

std::string instruct_context(const std::string& instruction, const std::string& input) {
  return "Instruction: " + instruction + (input.empty() ? "" : "\nInput: " + input) + "\nAnswer: ";
}

TokenizedDoc completion_sft_doc(const std::string& context, const std::string& target,
                                const tok::Tokenizer& tokenizer, std::optional<int32_t> eos,
                                const std::string& where) {
  // The evaluation's own split (eval/prompt.h encode_pair, lm-eval's _encode_pair), so training
  // sees exactly the continuation tokens the log-likelihood protocol scores. An empty context
  // (plain text rows) follows EOS, as lm-eval scores one.
  YZ_CHECK(!context.empty() || eos, where, ": an empty context needs the model's eos_token_id");
  std::pair<std::vector<int32_t>, std::vector<int32_t>> pair;
  try {
    pair = encode_pair(tokenizer, context, target, eos.value_or(0));
  } catch (const Error& e) {
    YZ_THROW(ErrorKind::kInvalidInput, where, ": ", e.what());
  }
  TokenizedDoc d;
  d.ids = std::move(pair.first);
  d.loss_mask.assign(d.ids.size(), 0);
  d.ids.insert(d.ids.end(), pair.second.begin(), pair.second.end());
  if (eos) d.ids.push_back(*eos);
  d.loss_mask.resize(d.ids.size(), 1);
  return d;
}

TokenizedDoc chat_sft_doc(const tmpl::Json& messages, const tmpl::ChatTemplate& chat,
                          const tok::Tokenizer& tokenizer, const std::string& where) {
  YZ_CHECK(messages.is_array() && !messages.empty(), where,
           ": \"messages\" must be a non-empty list of {\"role\", \"content\"} objects");
  bool any_assistant = false;
  for (size_t i = 0; i < messages.size(); ++i) {
    const auto& m = messages[i];
    YZ_CHECK(m.is_object() && m.contains("role") && m["role"].is_string(), where, ": message ", i,
             " needs a string \"role\"");
    any_assistant |= m["role"] == "assistant";
  }
  YZ_CHECK(any_assistant, where, ": no assistant message: nothing to train on");
  const std::string full_text = render_checked(chat, messages, false, where).text;
  TokenizedDoc d;
  d.ids = tokenizer.encode(full_text, /*add_special_tokens=*/false);
  d.loss_mask.assign(d.ids.size(), 0);
  for (size_t i = 0; i < messages.size(); ++i) {
    if (messages[i]["role"] != "assistant") continue;
    const tmpl::Json before(messages.begin(), messages.begin() + static_cast<std::ptrdiff_t>(i));
    const tmpl::Json through(messages.begin(), messages.begin() + static_cast<std::ptrdiff_t>(i + 1));
    const std::string prompt = render_checked(chat, before, true, where).text;
    const std::string upto = render_checked(chat, through, false, where).text;
    YZ_CHECK(upto.compare(0, prompt.size(), prompt) == 0 &&
                 full_text.compare(0, upto.size(), upto) == 0,
             where, ": the chat template renders the conversation before message ", i,
             " differently from its start, so the assistant turn cannot be located");
    const std::vector<int32_t> p = tokenizer.encode(prompt, false), u = tokenizer.encode(upto, false);
    YZ_CHECK(is_prefix(p, u) && is_prefix(u, d.ids), where, ": message ", i,
             " does not tokenize at its own boundaries (the tokens of the prompt before it are "
             "not a prefix of the conversation's)");
    std::fill(d.loss_mask.begin() + static_cast<std::ptrdiff_t>(p.size()),
              d.loss_mask.begin() + static_cast<std::ptrdiff_t>(u.size()), 1);
  }
  return d;
}

SftDocuments::SftDocuments(const std::vector<fs::path>& files, const tok::Tokenizer& tokenizer,
                           const SftOptions& options) {
  YZ_CHECK(!files.empty(), "no --data files given");
  for (const auto& f : files) {
    YZ_CHECK(fs::is_regular_file(f), "--data ", f.string(), ": no such file");
    const std::vector<JsonlRow> rows = read_jsonl(f);
    YZ_CHECK(!rows.empty(), "--data ", f.string(), ": no rows");
    const SftFormat format = options.format
                                 ? *options.format
                                 : detect_format(rows[0].value, f.string() + ":" +
                                                                    std::to_string(rows[0].line));
    YZ_CHECK(format != SftFormat::kChat || options.chat != nullptr, f.string(),
             ": chat rows need a chat template (the model has none: pass --chat-template chatml or a "
             "Jinja file)");
    formats_.push_back(format);
    for (const JsonlRow& row : rows) {
      const std::string where = f.string() + ":" + std::to_string(row.line);
      TokenizedDoc d;
      if (format == SftFormat::kChat) {
        YZ_CHECK(row.value.contains("messages"), where, ": missing field 'messages' (chat format)");
        d = chat_sft_doc(row.value["messages"], *options.chat, tokenizer, where);
      } else {
        const bool inst = format == SftFormat::kInstruct;
        const std::string context =
            inst ? instruct_context(jsonl_string(f, row, "instruction"),
                                    row.value.contains("input") ? jsonl_string(f, row, "input") : "")
                 : jsonl_string(f, row, "context");
        const std::string target = jsonl_string(f, row, inst ? "output" : "target");
        YZ_CHECK(!target.empty(), where, ": empty ", inst ? "output" : "target");
        d = completion_sft_doc(context, target, tokenizer, options.eos, where);
      }
      const int64_t trained = std::count(d.loss_mask.begin(), d.loss_mask.end(), 1);
      YZ_CHECK(trained > 0, where, ": the row has no token to train on");
      tokens_ += static_cast<int64_t>(d.ids.size());
      trained_ += trained;
      docs_.push_back(std::move(d));
    }
  }
}

}  // namespace yz::train
