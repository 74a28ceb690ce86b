// OpenAI request parsing: what is accepted and how, and every rejection with its status,
// param and code, as the OpenAI API reports them (tables of bodies).
#include <gtest/gtest.h>

#include "serve/openai_protocol.h"

namespace yz::serve {
namespace {

struct Rejection {
  const char* body;
  const char* param;
  const char* code;
};

void expect_rejected(GenerateRequest (*parse)(const std::string&), const Rejection& r) {
  SCOPED_TRACE(r.body);
  try {
    parse(r.body);
    ADD_FAILURE() << "accepted";
  } catch (const ApiError& e) {
    EXPECT_EQ(e.status(), 400);
    const Json body = Json::parse(e.body());
    EXPECT_EQ(body["error"]["type"], "invalid_request_error");
    EXPECT_EQ(body["error"]["param"], r.param[0] ? Json(r.param) : Json());
    EXPECT_EQ(body["error"]["code"], r.code);
    EXPECT_FALSE(body["error"]["message"].get<std::string>().empty());
  }
}

TEST(OpenAiProtocol, CompletionFields) {
  GenerateRequest r = parse_completion_request(R"({
    "model": "m", "prompt": "Hello", "max_tokens": 7, "temperature": 0, "top_p": 0.5, "top_k": 3,
    "seed": -2, "stop": ["x", "yz"], "stream": true, "stream_options": {"include_usage": true},
    "logprobs": 2, "ignore_eos": true, "stop_token_ids": [5], "n": 1, "echo": false, "user": "u",
    "frequency_penalty": 0, "presence_penalty": 0.0, "repetition_penalty": 1.0, "best_of": 1,
    "logit_bias": {}, "suffix": null, "include_stop_str_in_output": true, "skip_special_tokens": false})");
  EXPECT_EQ(r.endpoint, Endpoint::kCompletions);
  EXPECT_EQ(r.model, "m");
  EXPECT_EQ(r.prompt, "Hello");
  EXPECT_FALSE(r.prompt_is_ids);
  EXPECT_EQ(*r.max_tokens, 7);
  EXPECT_EQ(r.sampling.temperature, 0.0);
  EXPECT_EQ(r.sampling.top_p, 0.5);
  EXPECT_EQ(r.sampling.top_k, 3);
  EXPECT_TRUE(r.has_seed);
  EXPECT_EQ(r.sampling.seed, static_cast<uint64_t>(-2));
  EXPECT_EQ(r.stop, (std::vector<std::string>{"x", "yz"}));
  EXPECT_TRUE(r.stream && r.include_usage && r.ignore_eos && r.include_stop_str_in_output);
  EXPECT_FALSE(r.skip_special_tokens);
  EXPECT_EQ(r.logprobs, 2);
  EXPECT_EQ(r.stop_token_ids, std::vector<int32_t>{5});
}

TEST(OpenAiProtocol, CompletionDefaultsAndPromptForms) {
  GenerateRequest r = parse_completion_request(R"({"prompt": "a"})");
  EXPECT_EQ(r.sampling.temperature, 1.0);  // OpenAI's default: sampling
  EXPECT_FALSE(r.has_seed || r.stream || r.max_tokens);
  EXPECT_EQ(r.logprobs, -1);
  EXPECT_TRUE(r.add_special_tokens);
  EXPECT_EQ(parse_completion_request(R"({"prompt": ["one"]})").prompt, "one");
  r = parse_completion_request(R"({"prompt": [1, 2, 3]})");
  EXPECT_TRUE(r.prompt_is_ids);
  EXPECT_EQ(r.prompt_ids, (std::vector<int32_t>{1, 2, 3}));
  EXPECT_EQ(parse_completion_request(R"({"prompt": [[4, 5]]})").prompt_ids, (std::vector<int32_t>{4, 5}));
  EXPECT_EQ(parse_completion_request(R"({"prompt": "a", "top_k": -1})").sampling.top_k, 0);  // vLLM: all
  EXPECT_EQ(parse_completion_request(R"({"prompt": "a", "stop": "\n"})").stop, std::vector<std::string>{"\n"});
  EXPECT_FALSE(parse_completion_request(R"({"prompt": "a", "max_tokens": null})").max_tokens);
}

TEST(OpenAiProtocol, CompletionRejections) {
  const Rejection cases[] = {
      {"{", "", "invalid_json"},
      {"", "", "invalid_json"},
      {"[1]", "", "invalid_type"},
      {"\"text\"", "", "invalid_type"},
      {R"({})", "prompt", "missing_required_parameter"},
      {R"({"prompt": null})", "prompt", "missing_required_parameter"},
      {R"({"prompt": "a", "bogus": 1})", "bogus", "unrecognized_argument"},
      {R"({"prompt": "a", "messages": []})", "messages", "unrecognized_argument"},
      {R"({"prompt": 5})", "prompt", "invalid_type"},
      {R"({"prompt": []})", "prompt", "invalid_value"},
      {R"({"prompt": [[]]})", "prompt", "invalid_value"},
      {R"({"prompt": ["a", "b"]})", "prompt", "unsupported_value"},
      {R"({"prompt": [1, "a"]})", "prompt", "invalid_type"},
      {R"({"prompt": [-1]})", "prompt", "invalid_value"},
      {R"({"prompt": [1.5]})", "prompt", "invalid_type"},
      {R"({"prompt": [4294967296]})", "prompt", "invalid_value"},
      {R"({"prompt": "a", "max_tokens": "16"})", "max_tokens", "invalid_type"},
      {R"({"prompt": "a", "max_tokens": 16.0})", "max_tokens", "invalid_type"},
      {R"({"prompt": "a", "max_tokens": 0})", "max_tokens", "invalid_value"},
      {R"({"prompt": "a", "max_tokens": 18446744073709551615})", "max_tokens", "invalid_value"},
      {R"({"prompt": "a", "temperature": 2.5})", "temperature", "invalid_value"},
      {R"({"prompt": "a", "temperature": -0.1})", "temperature", "invalid_value"},
      {R"({"prompt": "a", "temperature": "hot"})", "temperature", "invalid_type"},
      {R"({"prompt": "a", "top_p": 0})", "top_p", "invalid_value"},
      {R"({"prompt": "a", "top_p": 1.01})", "top_p", "invalid_value"},
      {R"({"prompt": "a", "top_k": -2})", "top_k", "invalid_value"},
      {R"({"prompt": "a", "stream": "yes"})", "stream", "invalid_type"},
      {R"({"prompt": "a", "stream_options": {"include_usage": true}})", "stream_options", "invalid_value"},
      {R"({"prompt": "a", "stream": true, "stream_options": {"x": 1}})", "stream_options.x", "unrecognized_argument"},
      {R"({"prompt": "a", "stream": true, "stream_options": 1})", "stream_options", "invalid_type"},
      {R"({"prompt": "a", "stop": 3})", "stop", "invalid_type"},
      {R"({"prompt": "a", "stop": [""]})", "stop", "invalid_value"},
      {R"({"prompt": "a", "stop": ["a",1]})", "stop", "invalid_type"},
      {R"({"prompt": "a", "n": 2})", "n", "unsupported_value"},
      {R"({"prompt": "a", "n": 0})", "n", "invalid_value"},
      {R"({"prompt": "a", "best_of": 2})", "best_of", "unsupported_value"},
      {R"({"prompt": "a", "echo": true})", "echo", "unsupported_value"},
      {R"({"prompt": "a", "logprobs": 21})", "logprobs", "invalid_value"},
      {R"({"prompt": "a", "logprobs": true})", "logprobs", "invalid_type"},
      {R"({"prompt": "a", "frequency_penalty": 0.5})", "frequency_penalty", "unsupported_value"},
      {R"({"prompt": "a", "presence_penalty": 3})", "presence_penalty", "invalid_value"},
      {R"({"prompt": "a", "repetition_penalty": 1.2})", "repetition_penalty", "unsupported_value"},
      {R"({"prompt": "a", "logit_bias": {"5": 100}})", "logit_bias", "unsupported_value"},
      {R"({"prompt": "a", "suffix": "x"})", "suffix", "unsupported_value"},
      {R"({"prompt": "a", "stop_token_ids": [-3]})", "stop_token_ids", "invalid_value"},
      {R"({"prompt": "a", "seed": 1e3})", "seed", "invalid_type"},
      {R"({"prompt": "a", "user": 7})", "user", "invalid_type"},
  };
  for (const Rejection& r : cases) expect_rejected(parse_completion_request, r);
}

TEST(OpenAiProtocol, ChatMessages) {
  GenerateRequest r = parse_chat_request(R"({"messages": [
      {"role": "system", "content": "Be brief."},
      {"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}], "name": "u1"},
      {"role": "assistant", "content": null, "tool_calls": []},
      {"role": "user", "content": "c"}],
    "max_completion_tokens": 9, "logprobs": true, "top_logprobs": 3, "add_generation_prompt": false,
    "chat_template_kwargs": {"enable_thinking": false}, "response_format": {"type": "text"},
    "tools": [], "tool_choice": "none", "parallel_tool_calls": true, "store": false, "metadata": {},
    "modalities": ["text"]})");
  EXPECT_EQ(r.endpoint, Endpoint::kChat);
  ASSERT_EQ(r.messages.size(), 4u);
  EXPECT_EQ(r.messages[1], (Json{{"role", "user"}, {"name", "u1"}, {"content", "a\nb"}}));
  EXPECT_EQ(r.messages[2], (Json{{"role", "assistant"}, {"content", ""}}));
  EXPECT_EQ(*r.max_tokens, 9);
  EXPECT_EQ(r.logprobs, 3);
  EXPECT_FALSE(r.add_generation_prompt);
  EXPECT_FALSE(r.add_special_tokens);  // the template writes the special tokens
  EXPECT_EQ(r.chat_template_kwargs, (Json{{"enable_thinking", false}}));
  EXPECT_EQ(parse_chat_request(R"({"messages": [{"role": "user", "content": "x"}], "logprobs": true})").logprobs, 0);
  EXPECT_EQ(parse_chat_request(R"({"messages": [{"role": "user", "content": "x"}]})").logprobs, -1);
}

TEST(OpenAiProtocol, ChatRejections) {
  const Rejection cases[] = {
      {R"({"messages": []})", "messages", "invalid_value"},
      {R"({"messages": "hi"})", "messages", "invalid_type"},
      {R"({"model": "m"})", "messages", "missing_required_parameter"},
      {R"({"messages": [1]})", "messages[0]", "invalid_type"},
      {R"({"messages": [{"content": "x"}]})", "messages[0].role", "missing_required_parameter"},
      {R"({"messages": [{"role": "robot", "content": "x"}]})", "messages[0].role", "invalid_value"},
      {R"({"messages": [{"role": "user"}]})", "messages[0].content", "missing_required_parameter"},
      {R"({"messages": [{"role": "user", "content": null}]})", "messages[0].content", "missing_required_parameter"},
      {R"({"messages": [{"role": "user", "content": 5}]})", "messages[0].content", "invalid_type"},
      {R"({"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {}}]}]})",
       "messages[0].content[0].type", "unsupported_value"},
      {R"({"messages": [{"role": "user", "content": "x", "foo": 1}]})", "messages[0].foo", "unrecognized_argument"},
      {R"({"messages": [{"role": "assistant", "content": "x", "tool_calls": [{}]}]})", "messages[0].tool_calls",
       "unsupported_value"},
      {R"({"messages": [{"role": "user", "content": "x"}], "top_logprobs": 2})", "top_logprobs", "invalid_value"},
      {R"({"messages": [{"role": "user", "content": "x"}], "logprobs": 1})", "logprobs", "invalid_type"},
      {R"({"messages": [{"role": "user", "content": "x"}], "tools": [{"type": "function"}]})", "tools",
       "unsupported_value"},
      {R"({"messages": [{"role": "user", "content": "x"}], "response_format": {"type": "json_object"}})",
       "response_format", "unsupported_value"},
      {R"({"messages": [{"role": "user", "content": "x"}], "prompt": "y"})", "prompt", "unrecognized_argument"},
      {R"({"messages": [{"role": "user", "content": "x"}], "max_completion_tokens": -1})", "max_completion_tokens",
       "invalid_value"},
      {R"({"messages": [{"role": "user", "content": "x"}], "chat_template_kwargs": []})", "chat_template_kwargs",
       "invalid_type"},
  };
  for (const Rejection& r : cases) expect_rejected(parse_chat_request, r);
}

TEST(OpenAiProtocol, PromptFitsTheContext) {
  GenerateRequest c = parse_completion_request(R"({"prompt": "a"})");
  check_prompt_fits(&c, {1, 2, 3}, 32, 100);
  EXPECT_EQ(*c.max_tokens, 16);  // OpenAI's completions default
  GenerateRequest chat = parse_chat_request(R"({"messages": [{"role": "user", "content": "x"}]})");
  check_prompt_fits(&chat, {1, 2, 3}, 32, 100);
  EXPECT_EQ(*chat.max_tokens, 29);  // the rest of the context, as vLLM
  GenerateRequest big = parse_completion_request(R"({"prompt": "a", "max_tokens": 30})");
  try {
    check_prompt_fits(&big, {1, 2, 3}, 32, 100);
    ADD_FAILURE();
  } catch (const ApiError& e) {
    EXPECT_EQ(e.status(), 400);
    EXPECT_EQ(Json::parse(e.body())["error"]["code"], "context_length_exceeded");
    EXPECT_NE(std::string(e.what()).find("maximum context length is 32 tokens"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("requested 33 tokens (3 in the prompt, 30 in the completion)"),
              std::string::npos);
  }
  GenerateRequest ok = parse_completion_request(R"({"prompt": "a", "max_tokens": 29})");
  check_prompt_fits(&ok, {1, 2, 3}, 32, 100);
  EXPECT_THROW(check_prompt_fits(&ok, {}, 32, 100), ApiError);                // empty after tokenization
  EXPECT_THROW(check_prompt_fits(&ok, {1, 100}, 32, 100), ApiError);          // outside the vocabulary
  GenerateRequest stop_ids = parse_completion_request(R"({"prompt": "a", "stop_token_ids": [100]})");
  EXPECT_THROW(check_prompt_fits(&stop_ids, {1}, 32, 100), ApiError);
  GenerateRequest full = parse_chat_request(R"({"messages": [{"role": "user", "content": "x"}]})");
  EXPECT_THROW(check_prompt_fits(&full, std::vector<int32_t>(32, 1), 32, 100), ApiError);  // nothing left
}

TEST(OpenAiProtocol, TokenizeRequests) {
  TokenizeRequest t = parse_tokenize_request(R"({"prompt": "hi", "model": "m"})");
  EXPECT_FALSE(t.chat);
  EXPECT_TRUE(t.add_special_tokens);
  t = parse_tokenize_request(R"({"messages": [{"role": "user", "content": "hi"}]})");
  EXPECT_TRUE(t.chat);
  EXPECT_FALSE(t.add_special_tokens);
  EXPECT_THROW(parse_tokenize_request(R"({})"), ApiError);
  EXPECT_THROW(parse_tokenize_request(R"({"prompt": "a", "messages": [{"role": "user", "content": "b"}]})"),
               ApiError);
  EXPECT_THROW(parse_tokenize_request(R"({"prompt": 1})"), ApiError);
  EXPECT_EQ(parse_detokenize_request(R"({"tokens": [1, 2]})").tokens, (std::vector<int32_t>{1, 2}));
  EXPECT_THROW(parse_detokenize_request(R"({"tokens": "12"})"), ApiError);
  EXPECT_THROW(parse_detokenize_request(R"({"prompt": "a"})"), ApiError);
}

TEST(OpenAiProtocol, ErrorBodies) {
  const Json e = Json::parse(ApiError(404, "The model `x` does not exist.", "model", "model_not_found").body());
  EXPECT_EQ(e, (Json{{"error", {{"message", "The model `x` does not exist."}, {"type", "invalid_request_error"},
                                {"param", "model"}, {"code", "model_not_found"}}}}));
  EXPECT_EQ(Json::parse(ApiError(503, "busy").body())["error"]["type"], "server_error");
  // Invalid UTF-8 in a message (a quoted path) never breaks the body.
  EXPECT_NO_THROW(Json::parse(ApiError(404, "Invalid URL (GET /\xff\xfe)").body()));
  // Deep nesting is a parse error, not a crash.
  EXPECT_THROW(parse_completion_request(std::string(100000, '[')), ApiError);
}

}  // namespace
}  // namespace yz::serve
