// OpenAI request parsing (see openai_protocol.h). Messages follow the OpenAI API's wording
// ("Unrecognized request argument supplied: x", "Invalid type for 'x': expected ...") so that
// clients and their users see the errors they know.
#include "serve/openai_protocol.h"

#include <functional>
#include <limits>
#include <map>

namespace yz::serve {

namespace {

std::string type_name(const Json& v) {
  if (v.is_null()) return "null";
  if (v.is_boolean()) return "a boolean";
  if (v.is_number_integer() || v.is_number_unsigned()) return "an integer";
  if (v.is_number_float()) return "a decimal";
  if (v.is_string()) return "a string";
  if (v.is_array()) return "an array";
  return "an object";
}

[[noreturn]] void wrong_type(const std::string& name, const char* expected, const Json& v) {
  throw bad_request("Invalid type for '" + name + "': expected " + expected + ", but got " + type_name(v) +
                        " instead.",
                    name, "invalid_type");
}

bool get_bool(const Json& v, const std::string& name) {
  if (!v.is_boolean()) wrong_type(name, "a boolean", v);
  return v.get<bool>();
}

int64_t get_int(const Json& v, const std::string& name, int64_t lo, int64_t hi) {
  if (v.is_number_unsigned() && v.get<uint64_t>() > static_cast<uint64_t>(hi))
    throw bad_request("Invalid '" + name + "': expected a value <= " + std::to_string(hi) + ".", name);
  if (!v.is_number_integer()) wrong_type(name, "an integer", v);
  const int64_t x = v.get<int64_t>();
  if (x < lo || x > hi)
    throw bad_request("Invalid '" + name + "': expected a value " +
                          (x < lo ? ">= " + std::to_string(lo) : "<= " + std::to_string(hi)) + ", but got " +
                          std::to_string(x) + " instead.",
                      name);
  return x;
}

double get_number(const Json& v, const std::string& name, double lo, double hi, bool lo_open = false) {
  if (!v.is_number()) wrong_type(name, "a number", v);
  const double x = v.get<double>();
  if (x < lo || x > hi || (lo_open && x == lo)) {
    Json bound = x > hi ? hi : lo;
    throw bad_request("Invalid '" + name + "': expected a value " + (x > hi ? "<= " : lo_open ? "> " : ">= ") +
                          bound.dump() + ", but got " + Json(x).dump() + " instead.",
                      name);
  }
  return x;
}

std::string get_string(const Json& v, const std::string& name) {
  if (!v.is_string()) wrong_type(name, "a string", v);
  return v.get<std::string>();
}

// Token ids: non-negative 32-bit integers (the vocabulary is checked later).
std::vector<int32_t> get_ids(const Json& v, const std::string& name) {
  if (!v.is_array()) wrong_type(name, "an array of integers", v);
  std::vector<int32_t> ids;
  for (const Json& x : v) ids.push_back(static_cast<int32_t>(get_int(x, name, 0, std::numeric_limits<int32_t>::max())));
  return ids;
}

// A field OpenAI documents that this server cannot honour: accepted at its neutral value.
void require_neutral(bool neutral, const std::string& name, const std::string& what) {
  if (!neutral)
    throw bad_request("'" + name + "' is not supported by this server: " + what + ".", name, "unsupported_value");
}

using Handler = std::function<void(const Json&)>;

// Parses the body as a JSON object and calls the handler of each non-null member; unknown
// members are rejected like OpenAI rejects them.
Json parse_object(const std::string& body) {
  Json j = Json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded())
    throw bad_request(
        "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your "
        "HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid JSON.)",
        "", "invalid_json");
  if (!j.is_object()) throw bad_request("The request body must be a JSON object, not " + type_name(j) + ".", "", "invalid_type");
  return j;
}

void dispatch(const Json& j, const std::map<std::string, Handler>& handlers) {
  for (auto it = j.begin(); it != j.end(); ++it) {
    auto h = handlers.find(it.key());
    if (h == handlers.end())
      throw bad_request("Unrecognized request argument supplied: " + it.key(), it.key(), "unrecognized_argument");
    if (!it.value().is_null()) h->second(it.value());
  }
}

// `key` must be present and not null; `name` is how errors call it ("messages[0].role").
void require(const Json& j, const std::string& key, const std::string& name) {
  if (!j.contains(key) || j[key].is_null())
    throw bad_request("Missing required parameter: '" + name + "'.", name, "missing_required_parameter");
}
void require(const Json& j, const std::string& key) { require(j, key, key); }

// Sampling, stopping and streaming fields shared by both endpoints (OpenAI's and vLLM's).
std::map<std::string, Handler> common_fields(GenerateRequest* r, bool* has_stream_options) {
  std::map<std::string, Handler> h;
  h["model"] = [r](const Json& v) { r->model = get_string(v, "model"); };
  h["stream"] = [r](const Json& v) { r->stream = get_bool(v, "stream"); };
  h["stream_options"] = [r, has_stream_options](const Json& v) {
    if (!v.is_object()) wrong_type("stream_options", "an object", v);
    *has_stream_options = true;
    for (auto it = v.begin(); it != v.end(); ++it) {
      const std::string name = "stream_options." + it.key();
      if (it.key() == "include_usage") {
        if (!it.value().is_null()) r->include_usage = get_bool(it.value(), name);
      } else if (it.key() == "continuous_usage_stats") {
        require_neutral(it.value().is_null() || !get_bool(it.value(), name), name, "usage comes in the last chunk");
      } else {
        throw bad_request("Unrecognized request argument supplied: " + name, name, "unrecognized_argument");
      }
    }
  };
  h["max_tokens"] = [r](const Json& v) { r->max_tokens = get_int(v, "max_tokens", 1, std::numeric_limits<int32_t>::max()); };
  h["temperature"] = [r](const Json& v) { r->sampling.temperature = get_number(v, "temperature", 0, 2); };
  h["top_p"] = [r](const Json& v) { r->sampling.top_p = get_number(v, "top_p", 0, 1, /*lo_open=*/true); };
  // vLLM: top_k -1 (or 0) means all tokens.
  h["top_k"] = [r](const Json& v) {
    const int64_t k = get_int(v, "top_k", -1, std::numeric_limits<int32_t>::max());
    r->sampling.top_k = k < 0 ? 0 : k;
  };
  h["seed"] = [r](const Json& v) {
    r->sampling.seed = static_cast<uint64_t>(
        get_int(v, "seed", std::numeric_limits<int64_t>::min(), std::numeric_limits<int64_t>::max()));
    r->has_seed = true;
  };
  h["stop"] = [r](const Json& v) {
    if (v.is_string()) {
      r->stop = {v.get<std::string>()};
    } else if (v.is_array()) {
      for (const Json& s : v) r->stop.push_back(get_string(s, "stop"));
    } else {
      wrong_type("stop", "a string or an array of strings", v);
    }
    if (r->stop.size() > 16) throw bad_request("Invalid 'stop': at most 16 stop sequences are supported.", "stop");
    for (const std::string& s : r->stop)
      if (s.empty()) throw bad_request("Invalid 'stop': stop sequences must not be empty.", "stop");
  };
  h["stop_token_ids"] = [r](const Json& v) { r->stop_token_ids = get_ids(v, "stop_token_ids"); };
  h["include_stop_str_in_output"] = [r](const Json& v) {
    r->include_stop_str_in_output = get_bool(v, "include_stop_str_in_output");
  };
  h["ignore_eos"] = [r](const Json& v) { r->ignore_eos = get_bool(v, "ignore_eos"); };
  h["skip_special_tokens"] = [r](const Json& v) { r->skip_special_tokens = get_bool(v, "skip_special_tokens"); };
  h["add_special_tokens"] = [r](const Json& v) { r->add_special_tokens = get_bool(v, "add_special_tokens"); };
  h["n"] = [](const Json& v) { require_neutral(get_int(v, "n", 1, 128) == 1, "n", "only n = 1 is supported"); };
  h["user"] = [](const Json& v) { get_string(v, "user"); };
  for (const char* name : {"frequency_penalty", "presence_penalty"})
    h[name] = [name](const Json& v) { require_neutral(get_number(v, name, -2, 2) == 0, name, "only 0 is supported"); };
  h["repetition_penalty"] = [](const Json& v) {
    require_neutral(get_number(v, "repetition_penalty", 0, 1e9, true) == 1, "repetition_penalty", "only 1 is supported");
  };
  h["min_p"] = [](const Json& v) { require_neutral(get_number(v, "min_p", 0, 1) == 0, "min_p", "only 0 is supported"); };
  h["min_tokens"] = [](const Json& v) {
    require_neutral(get_int(v, "min_tokens", 0, std::numeric_limits<int32_t>::max()) == 0, "min_tokens",
                    "only 0 is supported");
  };
  h["logit_bias"] = [](const Json& v) {
    if (!v.is_object()) wrong_type("logit_bias", "an object", v);
    require_neutral(v.empty(), "logit_bias", "only an empty map is supported");
  };
  h["spaces_between_special_tokens"] = [](const Json& v) { get_bool(v, "spaces_between_special_tokens"); };
  return h;
}

void finish_common(GenerateRequest* r, bool has_stream_options) {
  if (has_stream_options && !r->stream)
    throw bad_request("The 'stream_options' parameter is only allowed when 'stream' is enabled.", "stream_options");
}

// One chat message, its content flattened to text (text parts joined with "\n", as vLLM does).
Json parse_message(const Json& m, size_t index) {
  const std::string where = "messages[" + std::to_string(index) + "]";
  if (!m.is_object()) wrong_type(where, "an object", m);
  require(m, "role", where + ".role");
  Json out = Json::object();
  const std::string role = get_string(m["role"], where + ".role");
  if (role != "system" && role != "developer" && role != "user" && role != "assistant" && role != "tool")
    throw bad_request("Invalid value: '" + role + "'. Supported values are: 'system', 'developer', 'user', "
                      "'assistant' and 'tool'.", where + ".role");
  out["role"] = role;
  std::string content;
  for (auto it = m.begin(); it != m.end(); ++it) {
    const std::string name = where + "." + it.key();
    const Json& v = it.value();
    if (it.key() == "role") continue;
    if (it.key() == "content") {
      if (v.is_string()) {
        content = v.get<std::string>();
      } else if (v.is_array()) {
        for (size_t i = 0; i < v.size(); ++i) {
          const std::string part = name + "[" + std::to_string(i) + "]";
          if (!v[i].is_object()) wrong_type(part, "an object", v[i]);
          require(v[i], "type", part + ".type");
          if (get_string(v[i]["type"], part + ".type") != "text")
            throw bad_request("Invalid '" + part + ".type': only text content parts are supported.", part + ".type",
                              "unsupported_value");
          require(v[i], "text", part + ".text");
          content += (i ? "\n" : "") + get_string(v[i]["text"], part + ".text");
        }
      } else if (!v.is_null()) {
        wrong_type(name, "a string or an array of content parts", v);
      }
    } else if (it.key() == "name" || it.key() == "tool_call_id") {
      out[it.key()] = get_string(v, name);
    } else if (it.key() == "tool_calls" || it.key() == "refusal") {
      require_neutral(v.is_null() || (v.is_array() && v.empty()), name, "tool calls are not supported");
    } else {
      throw bad_request("Unrecognized request argument supplied: " + name, name, "unrecognized_argument");
    }
  }
  if (!m.contains("content") || (m["content"].is_null() && role != "assistant"))
    throw bad_request("Missing required parameter: '" + where + ".content'.", where + ".content",
                      "missing_required_parameter");
  out["content"] = content;
  return out;
}

Json parse_messages(const Json& v) {
  if (!v.is_array()) wrong_type("messages", "an array", v);
  if (v.empty()) throw bad_request("Invalid 'messages': empty array. Expected an array with minimum length 1.", "messages");
  Json out = Json::array();
  for (size_t i = 0; i < v.size(); ++i) out.push_back(parse_message(v[i], i));
  return out;
}

Json get_object(const Json& v, const std::string& name) {
  if (!v.is_object()) wrong_type(name, "an object", v);
  return v;
}

}  // namespace

ApiError::ApiError(int status, std::string message, std::string param, std::string code, std::string type)
    : std::runtime_error(message),
      status_(status),
      message_(std::move(message)),
      param_(std::move(param)),
      code_(std::move(code)),
      type_(type.empty() ? (status >= 500 ? "server_error" : "invalid_request_error") : std::move(type)) {}

std::string ApiError::body() const {
  Json e = {{"message", message_}, {"type", type_}, {"param", nullptr}, {"code", nullptr}};
  if (!param_.empty()) e["param"] = param_;
  if (!code_.empty()) e["code"] = code_;
  // Messages may quote request bytes (a path, a name): never let invalid UTF-8 throw here.
  return Json{{"error", e}}.dump(-1, ' ', false, Json::error_handler_t::replace);
}

ApiError bad_request(const std::string& message, const std::string& param, const std::string& code) {
  return ApiError(400, message, param, code);
}

GenerateRequest parse_completion_request(const std::string& body) {
  const Json j = parse_object(body);
  GenerateRequest r;
  r.endpoint = Endpoint::kCompletions;
  r.sampling.temperature = 1.0;
  bool has_stream_options = false;
  std::map<std::string, Handler> h = common_fields(&r, &has_stream_options);
  h["prompt"] = [&r](const Json& v) {
    if (v.is_string()) {
      r.prompt = v.get<std::string>();
      return;
    }
    if (!v.is_array()) wrong_type("prompt", "a string, an array of strings or an array of token ids", v);
    if (v.empty()) throw bad_request("Invalid 'prompt': the prompt must not be empty.", "prompt");
    if (v[0].is_string() || v[0].is_array()) {
      require_neutral(v.size() == 1, "prompt", "one prompt per request (n = 1)");
      if (v[0].is_string()) {
        r.prompt = v[0].get<std::string>();
        return;
      }
      r.prompt_ids = get_ids(v[0], "prompt");
    } else {
      r.prompt_ids = get_ids(v, "prompt");
    }
    if (r.prompt_ids.empty()) throw bad_request("Invalid 'prompt': the prompt must not be empty.", "prompt");
    r.prompt_is_ids = true;
  };
  h["logprobs"] = [&r](const Json& v) { r.logprobs = get_int(v, "logprobs", 0, 20); };
  h["echo"] = [](const Json& v) { require_neutral(!get_bool(v, "echo"), "echo", "only false is supported"); };
  h["best_of"] = [](const Json& v) { require_neutral(get_int(v, "best_of", 1, 20) == 1, "best_of", "only 1 is supported"); };
  h["suffix"] = [](const Json& v) { require_neutral(get_string(v, "suffix").empty(), "suffix", "only an empty suffix"); };
  dispatch(j, h);
  require(j, "prompt");
  finish_common(&r, has_stream_options);
  return r;
}

GenerateRequest parse_chat_request(const std::string& body) {
  const Json j = parse_object(body);
  GenerateRequest r;
  r.endpoint = Endpoint::kChat;
  r.sampling.temperature = 1.0;
  r.add_special_tokens = false;
  bool has_stream_options = false, logprobs = false;
  int64_t top_logprobs = -1;
  std::map<std::string, Handler> h = common_fields(&r, &has_stream_options);
  h["messages"] = [&r](const Json& v) { r.messages = parse_messages(v); };
  h["max_completion_tokens"] = [&r](const Json& v) {
    r.max_tokens = get_int(v, "max_completion_tokens", 1, std::numeric_limits<int32_t>::max());
  };
  h["logprobs"] = [&logprobs](const Json& v) { logprobs = get_bool(v, "logprobs"); };
  h["top_logprobs"] = [&top_logprobs](const Json& v) { top_logprobs = get_int(v, "top_logprobs", 0, 20); };
  h["add_generation_prompt"] = [&r](const Json& v) { r.add_generation_prompt = get_bool(v, "add_generation_prompt"); };
  h["chat_template_kwargs"] = [&r](const Json& v) { r.chat_template_kwargs = get_object(v, "chat_template_kwargs"); };
  h["response_format"] = [](const Json& v) {
    require_neutral(get_object(v, "response_format").value("type", Json()) == "text", "response_format",
                    "only {\"type\": \"text\"} is supported");
  };
  h["tools"] = [](const Json& v) {
    if (!v.is_array()) wrong_type("tools", "an array", v);
    require_neutral(v.empty(), "tools", "tool calling is not supported");
  };
  h["tool_choice"] = [](const Json& v) {
    require_neutral(v.is_string() && v.get<std::string>() == "none", "tool_choice", "only \"none\" is supported");
  };
  h["parallel_tool_calls"] = [](const Json& v) { get_bool(v, "parallel_tool_calls"); };
  h["store"] = [](const Json& v) { require_neutral(!get_bool(v, "store"), "store", "completions are not stored"); };
  h["metadata"] = [](const Json& v) { get_object(v, "metadata"); };
  h["service_tier"] = [](const Json& v) { get_string(v, "service_tier"); };
  h["modalities"] = [](const Json& v) {
    require_neutral(v.is_array() && v.size() == 1 && v[0] == "text", "modalities", "only [\"text\"] is supported");
  };
  dispatch(j, h);
  require(j, "messages");
  if (top_logprobs >= 0 && !logprobs)
    throw bad_request("Invalid 'top_logprobs': 'logprobs' must be set to true when 'top_logprobs' is used.",
                      "top_logprobs");
  if (logprobs) r.logprobs = top_logprobs < 0 ? 0 : top_logprobs;
  finish_common(&r, has_stream_options);
  return r;
}

TokenizeRequest parse_tokenize_request(const std::string& body) {
  const Json j = parse_object(body);
  TokenizeRequest r;
  bool add_special_given = false;
  std::map<std::string, Handler> h;
  h["model"] = [&r](const Json& v) { r.model = get_string(v, "model"); };
  h["prompt"] = [&r](const Json& v) { r.prompt = get_string(v, "prompt"); };
  h["messages"] = [&r](const Json& v) {
    r.messages = parse_messages(v);
    r.chat = true;
  };
  h["add_generation_prompt"] = [&r](const Json& v) { r.add_generation_prompt = get_bool(v, "add_generation_prompt"); };
  h["chat_template_kwargs"] = [&r](const Json& v) { r.chat_template_kwargs = get_object(v, "chat_template_kwargs"); };
  h["add_special_tokens"] = [&](const Json& v) {
    r.add_special_tokens = get_bool(v, "add_special_tokens");
    add_special_given = true;
  };
  dispatch(j, h);
  const bool has_prompt = j.contains("prompt") && !j["prompt"].is_null();
  if (has_prompt == r.chat)
    throw bad_request("Give exactly one of 'prompt' and 'messages'.", r.chat ? "messages" : "prompt");
  // vLLM: chat prompts carry their special tokens from the template.
  if (r.chat && !add_special_given) r.add_special_tokens = false;
  return r;
}

DetokenizeRequest parse_detokenize_request(const std::string& body) {
  const Json j = parse_object(body);
  DetokenizeRequest r;
  dispatch(j, {{"model", [&r](const Json& v) { r.model = get_string(v, "model"); }},
               {"tokens", [&r](const Json& v) { r.tokens = get_ids(v, "tokens"); }}});
  require(j, "tokens");
  return r;
}

void check_prompt_fits(GenerateRequest* r, const std::vector<int32_t>& ids, int64_t max_model_len,
                       int64_t vocab_size) {
  const std::string param = r->endpoint == Endpoint::kChat ? "messages" : "prompt";
  if (ids.empty()) throw bad_request("The prompt is empty after tokenization.", param);
  for (int32_t id : ids)
    if (id >= vocab_size)
      throw bad_request("Invalid 'prompt': token id " + std::to_string(id) + " is outside the vocabulary of " +
                            std::to_string(vocab_size) + ".",
                        param);
  for (int32_t id : r->stop_token_ids)
    if (id >= vocab_size)
      throw bad_request("Invalid 'stop_token_ids': token id " + std::to_string(id) +
                            " is outside the vocabulary of " + std::to_string(vocab_size) + ".",
                        "stop_token_ids");
  const int64_t prompt = static_cast<int64_t>(ids.size());
  if (!r->max_tokens) {
    if (r->endpoint == Endpoint::kCompletions)
      r->max_tokens = 16;
    else if (prompt < max_model_len)
      r->max_tokens = max_model_len - prompt;
  }
  const int64_t want = r->max_tokens.value_or(0);
  if (prompt + want > max_model_len || prompt >= max_model_len)
    throw bad_request("This model's maximum context length is " + std::to_string(max_model_len) +
                          " tokens. However, you requested " + std::to_string(prompt + want) + " tokens (" +
                          std::to_string(prompt) + " in the " + param + ", " + std::to_string(want) +
                          " in the completion). Please reduce the length of the " + param + " or completion.",
                      param, "context_length_exceeded");
}

}  // namespace yz::serve
