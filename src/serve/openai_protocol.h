// The OpenAI API as the server reads it: request bodies of /v1/completions,
// /v1/chat/completions, /tokenize and /detokenize parsed and validated into plain structs, and
// the error object every failure is reported with. OpenAI's own rules decide what is rejected:
// malformed JSON, wrong types, out-of-range values and unrecognized fields are 400s naming the
// field ("Unrecognized request argument supplied: x"); fields OpenAI documents that we cannot
// honour (n > 1, penalties, tools, ...) are accepted at their neutral value and refused
// otherwise. vLLM's sampling extensions (top_k, ignore_eos, stop_token_ids, ...) are accepted
// as vLLM accepts them. Pure functions of the body: fuzzed (fuzz/openai_request_fuzz.cc).
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "model/sampling_params.h"

namespace yz::serve {

using Json = nlohmann::ordered_json;

// An OpenAI error: {"error": {"message", "type", "param", "code"}} with an HTTP status.
class ApiError : public std::runtime_error {
 public:
  ApiError(int status, std::string message, std::string param = "", std::string code = "",
           std::string type = "");
  int status() const { return status_; }
  // The response body.
  std::string body() const;

 private:
  int status_;
  std::string message_, param_, code_, type_;
};

// 400 invalid_request_error naming `param`.
ApiError bad_request(const std::string& message, const std::string& param = "",
                     const std::string& code = "invalid_value");

enum class Endpoint { kCompletions, kChat };

// One generation request, either endpoint.
struct GenerateRequest {
  Endpoint endpoint = Endpoint::kCompletions;
  std::string model;  // empty: the served model
  // Completions: the prompt as text, or as token ids.
  std::string prompt;
  std::vector<int32_t> prompt_ids;
  bool prompt_is_ids = false;
  // Chat: the messages with their content flattened to text, as the template sees them.
  Json messages = Json::array();
  bool add_generation_prompt = true;
  Json chat_template_kwargs = Json::object();

  bool stream = false, include_usage = false;
  std::optional<int64_t> max_tokens;  // max_tokens / max_completion_tokens
  SamplingParams sampling;            // temperature defaults to 1, as OpenAI
  bool has_seed = false;              // no seed: the server draws one
  std::vector<std::string> stop;
  std::vector<int32_t> stop_token_ids;
  bool include_stop_str_in_output = false;
  bool ignore_eos = false;
  bool skip_special_tokens = true;
  bool add_special_tokens = true;  // completions: true; chat: false (the template writes them)
  // Completions: logprobs = k returns the chosen token's log-probability and the k most likely;
  // chat: logprobs = true with top_logprobs = k. -1: no log-probabilities.
  int64_t logprobs = -1;
};

GenerateRequest parse_completion_request(const std::string& body);
GenerateRequest parse_chat_request(const std::string& body);

// POST /tokenize: {"prompt": text} or {"messages": [...]} (vLLM's two forms).
struct TokenizeRequest {
  std::string model;
  bool chat = false;
  std::string prompt;
  Json messages = Json::array();
  bool add_generation_prompt = true;
  Json chat_template_kwargs = Json::object();
  bool add_special_tokens = true;
};
TokenizeRequest parse_tokenize_request(const std::string& body);

// POST /detokenize: {"tokens": [ids]}.
struct DetokenizeRequest {
  std::string model;
  std::vector<int32_t> tokens;
};
DetokenizeRequest parse_detokenize_request(const std::string& body);

// The prompt length limit of OpenAI and vLLM: prompt + max_tokens must fit in max_model_len.
// Fills a missing max_tokens (completions: 16, OpenAI's default; chat: the rest of the context)
// and checks prompt ids against the vocabulary. Throws ApiError 400.
void check_prompt_fits(GenerateRequest* r, const std::vector<int32_t>& prompt_ids, int64_t max_model_len,
                       int64_t vocab_size);

}  // namespace yz::serve
