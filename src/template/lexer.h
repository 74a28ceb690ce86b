// Template source -> tokens, with the whitespace rules of the environment transformers uses:
// trim_blocks (drop the first newline after a block or comment tag), lstrip_blocks (drop the
// indentation before a block or comment tag), `-`/`+` modifiers on tags, comments and
// {% raw %} handled here. Mirrors jinja2/lexer.py (3.1) rule for rule.
#pragma once

#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace yz::tmpl {

// A syntax error at byte offset `pos` of the (newline-normalised) source.
class SyntaxError : public std::runtime_error {
 public:
  SyntaxError(const std::string& message, size_t pos) : std::runtime_error(message), pos(pos) {}
  size_t pos;
};

enum class TokenType : uint8_t {
  kData,           // template text between tags
  kVariableBegin,  // {{
  kVariableEnd,    // }}
  kBlockBegin,     // {%
  kBlockEnd,       // %}
  kName,
  kString,
  kInteger,
  kFloat,
  kOperator,
  kEof,
};

struct Token {
  TokenType type = TokenType::kEof;
  std::string value;  // data, name, unescaped string literal or operator text
  int64_t integer = 0;
  double number = 0;
  size_t pos = 0;     // byte offset in the normalised source
};

// Jinja's newline handling: "\r\n" and "\r" become "\n"; one trailing newline is dropped
// (keep_trailing_newline=False).
std::string normalize_newlines(const std::string& source);

// Tokenizes normalised source (throws SyntaxError). The last token is kEof.
std::vector<Token> tokenize(const std::string& source);

}  // namespace yz::tmpl
