// Generated text for the client (see output_text.h).
#include "serve/output_text.h"

namespace yz::serve {

OutputText::OutputText(const tok::Tokenizer& tokenizer, bool skip_special_tokens, std::vector<std::string> stop,
                       bool include_stop_str)
    : decoder_(tokenizer, skip_special_tokens), stop_(std::move(stop), include_stop_str) {}

std::string OutputText::release(const std::string& piece) {
  std::string out = stop_.feed(piece);
  text_ += out;
  return out;
}

std::string OutputText::add(int32_t token, bool is_stop_token) {
  if (stop_.matched()) return "";
  return release(is_stop_token ? decoder_.flush() : decoder_.step(token));
}

std::string OutputText::finish() {
  if (stop_.matched()) return "";
  std::string out = release(decoder_.flush());
  if (stop_.matched()) return out;
  std::string rest = stop_.flush();
  text_ += rest;
  return out + rest;
}

}  // namespace yz::serve
