// SSE parsing (see sse.h), following the WHATWG "interpret an event stream" algorithm.
#include "serve/sse.h"

namespace yz::serve {

std::vector<std::string> SseParser::feed(const char* data, size_t size) {
  std::vector<std::string> out;
  for (size_t i = 0; i < size; ++i) {
    const char c = data[i];
    if (after_cr_) {
      after_cr_ = false;
      if (c == '\n') continue;  // CRLF: the line already ended at CR
    }
    if (c == '\r' || c == '\n') {
      after_cr_ = c == '\r';
      line(pending_, &out);
      pending_.clear();
    } else {
      pending_ += c;
    }
  }
  return out;
}

std::vector<std::string> SseParser::finish() {
  std::vector<std::string> out;
  if (!pending_.empty()) line(pending_, &out);
  pending_.clear();
  dispatch(&out);
  return out;
}

void SseParser::line(const std::string& l, std::vector<std::string>* out) {
  if (l.empty()) {
    dispatch(out);
    return;
  }
  if (l[0] == ':') return;  // comment (keep-alive pings)
  const size_t colon = l.find(':');
  const std::string field = l.substr(0, colon);
  if (field != "data") return;  // event, id, retry: not needed here
  std::string value = colon == std::string::npos ? "" : l.substr(colon + 1);
  if (!value.empty() && value[0] == ' ') value.erase(0, 1);
  if (has_data_) data_ += '\n';
  data_ += value;
  has_data_ = true;
}

void SseParser::dispatch(std::vector<std::string>* out) {
  if (has_data_) out->push_back(data_);
  data_.clear();
  has_data_ = false;
}

}  // namespace yz::serve
