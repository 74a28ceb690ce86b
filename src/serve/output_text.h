// The text of one generation as the client receives it: tokens decoded incrementally (never
// half a UTF-8 character, tokenizer/tokenizer.h), stop tokens left out of the text (OpenAI and
// vLLM do not show them), stop strings held back until they cannot match (stop_strings.h).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "serve/stop_strings.h"
#include "tokenizer/tokenizer.h"

namespace yz::serve {

class OutputText {
 public:
  OutputText(const tok::Tokenizer& tokenizer, bool skip_special_tokens, std::vector<std::string> stop,
             bool include_stop_str);

  // The text released by one more token (often the token's own text; empty while a character
  // or a possible stop string is incomplete). `is_stop_token`: the engine ended on it (EOS or a
  // stop_token_id); it adds no text but releases what was held.
  std::string add(int32_t token, bool is_stop_token);
  // The rest when generation ends (no stop string matched).
  std::string finish();
  // A stop string matched: this generation is over (finish_reason "stop").
  bool stopped() const { return stop_.matched(); }
  // Everything released so far.
  const std::string& text() const { return text_; }

 private:
  std::string release(const std::string& piece);

  tok::IncrementalDecoder decoder_;
  StopMatcher stop_;
  std::string text_;
};

}  // namespace yz::serve
