// Lexer (see lexer.h). Each rule cites the jinja2/lexer.py regex it implements; whitespace in
// those regexes is Python's Unicode `\s`, hence py::is_space on decoded code points.
#include "template/lexer.h"

#include <cerrno>
#include <cstdio>
#include <cstdlib>

#include "template/pystr.h"

namespace yz::tmpl {

namespace {

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_name_start(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
bool is_name_char(char c) { return is_name_start(c) || is_digit(c); }

// Length in bytes of the Unicode whitespace run starting at `pos`.
size_t space_run(const std::string& s, size_t pos) {
  size_t i = pos;
  while (i < s.size()) {
    unsigned char b = static_cast<unsigned char>(s[i]);
    if (b < 0x80) {
      if (!py::is_space(b)) break;
      ++i;
      continue;
    }
    size_t len = (b & 0xE0) == 0xC0 ? 2 : (b & 0xF0) == 0xE0 ? 3 : 4;
    std::u32string cp;
    if (i + len > s.size() || !py::decode_utf8(std::string_view(s).substr(i, len), &cp) ||
        !py::is_space(cp[0]))
      break;
    i += len;
  }
  return i - pos;
}

// text.rstrip() with Python's whitespace.
std::string rstrip(const std::string& text) { return py::strip(text, std::nullopt, false, true); }

// True when text[from:] is non-empty and all whitespace (whitespace_re.fullmatch(text, l_pos)).
bool all_space(const std::string& text, size_t from) {
  return from < text.size() && space_run(text, from) == text.size() - from;
}

class Lexer {
 public:
  explicit Lexer(const std::string& src) : s_(src) {}

  std::vector<Token> run() {
    while (pos_ < s_.size()) root();
    Token eof;
    eof.pos = s_.size();
    out_.push_back(eof);
    return std::move(out_);
  }

 private:
  // The "root" rule: data up to the next {{ {% {#, with strip/lstrip applied to the data.
  void root() {
    size_t i = pos_;
    for (;; ++i) {
      i = s_.find('{', i);
      if (i == std::string::npos || i + 1 >= s_.size()) {
        emit_data(s_.substr(pos_), pos_);
        pos_ = s_.size();
        return;
      }
      char k = s_[i + 1];
      if (k == '{' || k == '%' || k == '#') break;
    }
    const char kind = s_[i + 1];
    size_t after = i + 2;
    char sign = 0;
    if (after < s_.size() && (s_[after] == '-' || s_[after] == '+')) sign = s_[after++];
    size_t raw_end = kind == '%' ? match_raw_begin(after) : 0;
    std::string text = s_.substr(pos_, i - pos_);
    apply_strip(&text, sign, kind != '{');
    emit_data(text, pos_);
    line_starting_ = false;
    pos_ = after;
    if (raw_end) {
      line_starting_ = s_[raw_end - 1] == '\n';
      pos_ = raw_end;
      raw_body(i);
    } else if (kind == '#') {
      comment(i);
    } else {
      tag(kind == '{', i);
    }
  }

  // OptionalLStrip: '-' strips all whitespace before the tag; otherwise lstrip_blocks removes
  // the indentation of a block/comment tag that starts its line.
  void apply_strip(std::string* text, char sign, bool lstrip_applies) {
    if (sign == '-') {
      *text = rstrip(*text);
    } else if (sign != '+' && lstrip_applies) {
      size_t nl = text->rfind('\n');
      size_t l_pos = nl == std::string::npos ? 0 : nl + 1;
      if ((l_pos > 0 || line_starting_) && all_space(*text, l_pos)) text->resize(l_pos);
    }
  }

  void emit_data(const std::string& text, size_t pos) {
    if (text.empty()) return;
    Token t;
    t.type = TokenType::kData;
    t.value = text;
    t.pos = pos;
    out_.push_back(std::move(t));
  }

  void emit(TokenType type, size_t pos, std::string value = {}) {
    Token t;
    t.type = type;
    t.pos = pos;
    t.value = std::move(value);
    out_.push_back(std::move(t));
  }

  // root_raw_re: {%[-+]?\s*raw\s*(-%}\s*|%}) ; returns the end offset or 0.
  size_t match_raw_begin(size_t p) const {
    p += space_run(s_, p);
    if (s_.compare(p, 3, "raw") != 0) return 0;
    p += 3;
    p += space_run(s_, p);
    if (s_.compare(p, 3, "-%}") == 0) return p + 3 + space_run(s_, p + 3);
    if (s_.compare(p, 2, "%}") == 0) return p + 2;
    return 0;
  }

  // End of a block tag (+%} | -%}\s* | %}\n?); 0 when none starts at p.
  size_t match_block_end(size_t p) const {
    if (s_.compare(p, 3, "+%}") == 0) return p + 3;
    if (s_.compare(p, 3, "-%}") == 0) return p + 3 + space_run(s_, p + 3);
    if (s_.compare(p, 2, "%}") == 0) return p + 2 + (p + 2 < s_.size() && s_[p + 2] == '\n');
    return 0;
  }

  // Raw block body up to {%[-+]?\s*endraw\s*(block end).
  void raw_body(size_t start) {
    for (size_t i = s_.find("{%", pos_); i != std::string::npos; i = s_.find("{%", i + 1)) {
      size_t p = i + 2;
      char sign = 0;
      if (p < s_.size() && (s_[p] == '-' || s_[p] == '+')) sign = s_[p++];
      p += space_run(s_, p);
      if (s_.compare(p, 6, "endraw") != 0) continue;
      p += 6;
      p += space_run(s_, p);
      size_t end = match_block_end(p);
      if (!end) continue;
      std::string text = s_.substr(pos_, i - pos_);
      apply_strip(&text, sign, true);
      emit_data(text, pos_);
      line_starting_ = s_[end - 1] == '\n';
      pos_ = end;
      return;
    }
    throw SyntaxError("missing end of raw directive ({% endraw %})", start);
  }

  // Comment body up to +#} | -#}\s* | #}\n? (the earliest).
  void comment(size_t start) {
    for (size_t k = pos_; k < s_.size(); ++k) {
      size_t end = 0;
      if (s_.compare(k, 3, "+#}") == 0) end = k + 3;
      else if (s_.compare(k, 3, "-#}") == 0) end = k + 3 + space_run(s_, k + 3);
      else if (s_.compare(k, 2, "#}") == 0) end = k + 2 + (k + 2 < s_.size() && s_[k + 2] == '\n');
      if (end) {
        line_starting_ = s_[end - 1] == '\n';
        pos_ = end;
        return;
      }
    }
    throw SyntaxError("missing end of comment tag (#})", start);
  }

  // Inside {{ }} or {% %}: the end rule first (only with balanced brackets), then whitespace,
  // float, integer, name, string, operator (jinja2's tag_rules order).
  void tag(bool variable, size_t start) {
    emit(variable ? TokenType::kVariableBegin : TokenType::kBlockBegin, start);
    std::string balance;
    while (pos_ < s_.size()) {
      if (balance.empty()) {
        size_t end = 0;
        if (variable) {
          if (s_.compare(pos_, 3, "-}}") == 0) end = pos_ + 3 + space_run(s_, pos_ + 3);
          else if (s_.compare(pos_, 2, "}}") == 0) end = pos_ + 2;
        } else {
          end = match_block_end(pos_);
        }
        if (end) {
          emit(variable ? TokenType::kVariableEnd : TokenType::kBlockEnd, pos_);
          line_starting_ = s_[end - 1] == '\n';
          pos_ = end;
          return;
        }
      }
      if (size_t ws = space_run(s_, pos_)) {
        pos_ += ws;
        continue;
      }
      if (lex_number() || lex_name() || lex_string()) continue;
      lex_operator(&balance);
    }
    // Unterminated tag: the parser reports "unexpected end of template".
  }

  // `(\d+_)*\d+`: digits with single underscores between them; returns the end or `p`.
  size_t digits(size_t p) const {
    size_t q = p;
    while (q < s_.size() && is_digit(s_[q])) {
      while (q < s_.size() && is_digit(s_[q])) ++q;
      if (q + 1 < s_.size() && s_[q] == '_' && is_digit(s_[q + 1])) ++q;
    }
    return q;
  }

  bool lex_number() {
    const size_t p = pos_;
    if (!is_digit(s_[p])) return false;
    // float_re: (?<!\.) digits ((\.digits)? e[+-]?digits | \.digits)
    if (p == 0 || s_[p - 1] != '.') {
      size_t q = digits(p), frac_end = 0;
      if (q < s_.size() && s_[q] == '.' && q + 1 < s_.size() && is_digit(s_[q + 1]))
        frac_end = digits(q + 1);
      size_t e = frac_end ? frac_end : q, exp_end = 0;
      if (e < s_.size() && (s_[e] == 'e' || s_[e] == 'E')) {
        size_t d = e + 1;
        if (d < s_.size() && (s_[d] == '+' || s_[d] == '-')) ++d;
        if (d < s_.size() && is_digit(s_[d])) exp_end = digits(d);
      }
      size_t end = exp_end ? exp_end : frac_end;
      if (end) {
        std::string text;
        for (size_t i = p; i < end; ++i)
          if (s_[i] != '_') text += s_[i];
        Token t;
        t.type = TokenType::kFloat;
        t.number = std::strtod(text.c_str(), nullptr);
        t.pos = p;
        out_.push_back(t);
        pos_ = end;
        return true;
      }
    }
    // integer_re: 0b(_?[01])+ | 0o(_?[0-7])+ | 0x(_?[0-9a-f])+ | [1-9](_?\d)* | 0(_?0)*
    auto run = [&](size_t q, auto is_d) {
      for (;;) {
        size_t r = q + (q < s_.size() && s_[q] == '_');
        if (r >= s_.size() || !is_d(s_[r])) return q;
        q = r + 1;
      }
    };
    int base = 10;
    size_t body = p, q = p;
    if (s_[p] == '0' && p + 1 < s_.size()) {
      const char x = static_cast<char>(s_[p + 1] | 0x20);
      const int b = x == 'b' ? 2 : x == 'o' ? 8 : x == 'x' ? 16 : 10;
      auto is_d = [b](char c) {
        if (b == 16) return is_digit(c) || ((c | 0x20) >= 'a' && (c | 0x20) <= 'f');
        return c >= '0' && c < static_cast<char>('0' + b);
      };
      if (b != 10 && run(p + 2, is_d) > p + 2) base = b, body = p + 2, q = run(p + 2, is_d);
    }
    if (base == 10)
      q = s_[p] == '0' ? run(p + 1, [](char c) { return c == '0'; }) : run(p + 1, is_digit);
    std::string text;
    for (size_t i = body; i < q; ++i)
      if (s_[i] != '_') text += s_[i];
    errno = 0;
    unsigned long long v = std::strtoull(text.c_str(), nullptr, base);
    if (errno == ERANGE || v > static_cast<unsigned long long>(INT64_MAX))
      throw SyntaxError("integer literal " + s_.substr(p, q - p) + " does not fit in 64 bits", p);
    Token t;
    t.type = TokenType::kInteger;
    t.integer = static_cast<int64_t>(v);
    t.pos = p;
    out_.push_back(t);
    pos_ = q;
    return true;
  }

  bool lex_name() {
    if (!is_name_start(s_[pos_])) return false;
    size_t q = pos_ + 1;
    while (q < s_.size() && is_name_char(s_[q])) ++q;
    emit(TokenType::kName, pos_, s_.substr(pos_, q - pos_));
    pos_ = q;
    return true;
  }

  bool lex_string() {
    const char quote = s_[pos_];
    if (quote != '\'' && quote != '"') return false;
    size_t q = pos_ + 1;
    while (q < s_.size() && s_[q] != quote) q += s_[q] == '\\' ? 2 : 1;
    if (q >= s_.size()) throw SyntaxError("unterminated string literal", pos_);
    emit(TokenType::kString, pos_, unescape(pos_ + 1, q));
    pos_ = q + 1;
    return true;
  }

  // Python's value.encode("ascii", "backslashreplace").decode("unicode-escape").
  std::string unescape(size_t b, size_t e) const {
    std::u32string u;
    if (!py::decode_utf8(std::string_view(s_).substr(b, e - b), &u))
      throw SyntaxError("string literal is not valid UTF-8", b - 1);
    std::string out;
    auto hex = [&](size_t& i, int n, const char* what) {
      char32_t v = 0;
      for (int k = 0; k < n; ++k, ++i) {
        char32_t c = i < u.size() ? u[i] : 0;
        int d = c >= '0' && c <= '9' ? c - '0' : (c | 0x20) >= 'a' && (c | 0x20) <= 'f' ? (c | 0x20) - 'a' + 10 : -1;
        if (d < 0) throw SyntaxError(std::string("truncated ") + what + " escape", b - 1);
        v = v * 16 + static_cast<char32_t>(d);
      }
      return v;
    };
    for (size_t i = 0; i < u.size();) {
      char32_t c = u[i++];
      if (c != '\\' || i >= u.size()) {
        py::append_utf8(&out, c);
        continue;
      }
      char32_t n = u[i++];
      switch (n) {
        case '\n': break;  // line continuation
        case '\\': out += '\\'; break;
        case '\'': out += '\''; break;
        case '"': out += '"'; break;
        case 'a': out += '\a'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'v': out += '\v'; break;
        case 'x': py::append_utf8(&out, hex(i, 2, "\\xXX")); break;
        case 'u': py::append_utf8(&out, hex(i, 4, "\\uXXXX")); break;
        case 'U': {
          char32_t v = hex(i, 8, "\\UXXXXXXXX");
          if (v > 0x10FFFF) throw SyntaxError("illegal Unicode character in \\U escape", b - 1);
          if (v >= 0xD800 && v <= 0xDFFF)
            throw SyntaxError("surrogate code point in string literal", b - 1);
          py::append_utf8(&out, v);
          break;
        }
        case 'N': throw SyntaxError("\\N{...} escapes are not supported", b - 1);
        default:
          if (n >= '0' && n <= '7') {
            char32_t v = n - '0';
            for (int k = 0; k < 2 && i < u.size() && u[i] >= '0' && u[i] <= '7'; ++k)
              v = v * 8 + (u[i++] - '0');
            py::append_utf8(&out, v);
          } else if (n >= 0x80) {
            // backslashreplace turned the character into \xNN / \uNNNN / \UNNNNNNNN, and
            // unicode-escape then read "\\" as a backslash followed by that text.
            char buf[16];
            std::snprintf(buf, sizeof buf, n <= 0xFF ? "\\x%02x" : n <= 0xFFFF ? "\\u%04x" : "\\U%08x",
                          static_cast<unsigned>(n));
            out += buf;
          } else {
            out += '\\';  // unknown escape: kept as written
            py::append_utf8(&out, n);
          }
      }
    }
    return out;
  }

  void lex_operator(std::string* balance) {
    static const char* kTwo[] = {"//", "**", "==", "!=", ">=", "<="};
    for (const char* op : kTwo) {
      if (s_.compare(pos_, 2, op) == 0) {
        emit(TokenType::kOperator, pos_, op);
        pos_ += 2;
        return;
      }
    }
    const char c = s_[pos_];
    if (std::string_view("+-/*%~[](){}><=.:|,;").find(c) == std::string_view::npos) {
      std::string shown = c >= 0x20 && c < 0x7F ? std::string(1, c) : "\\x" + std::to_string(static_cast<unsigned char>(c));
      throw SyntaxError("unexpected character '" + shown + "'", pos_);
    }
    if (c == '{') balance->push_back('}');
    if (c == '(') balance->push_back(')');
    if (c == '[') balance->push_back(']');
    if (c == '}' || c == ')' || c == ']') {
      if (balance->empty()) throw SyntaxError(std::string("unexpected '") + c + "'", pos_);
      if (balance->back() != c)
        throw SyntaxError(std::string("unexpected '") + c + "', expected '" + balance->back() + "'",
                          pos_);
      balance->pop_back();
    }
    emit(TokenType::kOperator, pos_, std::string(1, c));
    ++pos_;
  }

  const std::string& s_;
  size_t pos_ = 0;
  bool line_starting_ = true;
  std::vector<Token> out_;
};

}  // namespace

std::string normalize_newlines(const std::string& source) {
  std::string out;
  out.reserve(source.size());
  for (size_t i = 0; i < source.size(); ++i) {
    if (source[i] == '\r') {
      out += '\n';
      if (i + 1 < source.size() && source[i + 1] == '\n') ++i;
    } else {
      out += source[i];
    }
  }
  if (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

std::vector<Token> tokenize(const std::string& source) { return Lexer(source).run(); }

}  // namespace yz::tmpl
