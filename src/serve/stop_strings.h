// Stop strings on streamed text (OpenAI's `stop`): text that could still be the start of a stop
// string is held back until it cannot match, so a client never sees part of a stop string; at
// a match, output ends just before it (or after it, with vLLM's include_stop_str_in_output).
// Works on UTF-8 text that never splits a character (the incremental decoder's output), and
// never splits one itself: a held-back suffix begins with the first byte of a stop string.
#pragma once

#include <string>
#include <vector>

namespace yz::serve {

class StopMatcher {
 public:
  explicit StopMatcher(std::vector<std::string> stops, bool include_stop = false);

  // Appends `text` and returns what can be released now. Once a stop string matched,
  // matched() is true and everything after the match is dropped (now and later).
  std::string feed(const std::string& text);
  // The held-back tail, when generation ends without a match.
  std::string flush();
  bool matched() const { return matched_; }

 private:
  std::vector<std::string> stops_;
  bool include_stop_;
  std::string held_;  // released text is never held; held_ could still begin a stop string
  bool matched_ = false;
};

}  // namespace yz::serve
