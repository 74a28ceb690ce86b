// Stop-string matching (see stop_strings.h), as vLLM's detokenizer checks stop strings on the
// text generated so far and truncates at the earliest match.
#include "serve/stop_strings.h"

#include <algorithm>

namespace yz::serve {

StopMatcher::StopMatcher(std::vector<std::string> stops, bool include_stop)
    : stops_(std::move(stops)), include_stop_(include_stop) {
  stops_.erase(std::remove(stops_.begin(), stops_.end(), std::string()), stops_.end());
}

std::string StopMatcher::feed(const std::string& text) {
  if (matched_) return "";
  held_ += text;
  // The match that completes first wins (at equal ends, the one starting first): what feeding
  // the text one character at a time would find, so the result never depends on how the text
  // was cut into pieces. held_ holds no complete match before this call, so every match ends
  // in `text`.
  size_t best = std::string::npos, best_len = 0;
  for (const std::string& s : stops_) {
    const size_t at = held_.find(s);
    if (at == std::string::npos) continue;
    const size_t end = at + s.size();
    if (best == std::string::npos || end < best + best_len || (end == best + best_len && at < best)) {
      best = at;
      best_len = s.size();
    }
  }
  if (best != std::string::npos) {
    matched_ = true;
    std::string out = held_.substr(0, best + (include_stop_ ? best_len : 0));
    held_.clear();
    return out;
  }
  // Hold back the longest suffix that is a proper prefix of some stop string.
  size_t keep = 0;
  for (const std::string& s : stops_)
    for (size_t n = std::min(s.size() - 1, held_.size()); n > keep; --n)
      if (held_.compare(held_.size() - n, n, s, 0, n) == 0) {
        keep = n;
        break;
      }
  std::string out = held_.substr(0, held_.size() - keep);
  held_.erase(0, held_.size() - keep);
  return out;
}

std::string StopMatcher::flush() {
  std::string out;
  out.swap(held_);
  return matched_ ? "" : out;
}

}  // namespace yz::serve
