// Server-sent events as an HTTP client reads them (the WHATWG EventSource rules): bytes arrive
// in arbitrary pieces; lines end in LF, CRLF or CR; "data:" lines (one optional space after the
// colon) accumulate, joined by LF, until a blank line dispatches the event; comments (":...")
// and other fields are ignored. Used by `bench serve` on any server's stream; fuzzed.
#pragma once

#include <string>
#include <vector>

namespace yz::serve {

class SseParser {
 public:
  // Feeds bytes; returns the data of every event completed by them, in order.
  std::vector<std::string> feed(const char* data, size_t size);
  // End of the stream: an event whose blank line never came (some servers end with
  // "data: [DONE]" and no blank line) is dispatched too.
  std::vector<std::string> finish();

 private:
  void line(const std::string& l, std::vector<std::string>* out);
  void dispatch(std::vector<std::string>* out);

  std::string pending_;  // bytes of the current, unfinished line
  bool after_cr_ = false;  // the last byte was CR: a following LF belongs to the same line end
  std::string data_;
  bool has_data_ = false;
};

}  // namespace yz::serve
