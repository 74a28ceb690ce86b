// PCRE2 (UTF + Unicode properties, JIT) wrapper for the split patterns of tokenizer.json
// (Qwen2, Llama-3 and GPT-2 regexes use \p{L}, \p{N}, (?i:...) and (?!\S)).
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace yz::tok {

class Regex {
 public:
  // `literal`: match the pattern text as a plain string (tokenizer.json {"String": ...}).
  explicit Regex(const std::string& pattern, bool literal = false);
  ~Regex();
  Regex(const Regex&) = delete;
  Regex& operator=(const Regex&) = delete;

  // Non-overlapping matches as [begin, end) byte ranges, left to right.
  std::vector<std::pair<size_t, size_t>> find_all(std::string_view text) const;
  const std::string& pattern() const { return pattern_; }

 private:
  std::string pattern_;
  void* code_ = nullptr;  // pcre2_code_8*
};

}  // namespace yz::tok
