// Python str semantics on UTF-8 (see pystr.h). Case mapping uses utf8proc's simple (1:1)
// mappings; CPython applies SpecialCasing.txt on top (e.g. "ß".upper() == "SS"), which only
// differs for a few dozen characters that chat templates do not case-map.
#include "template/pystr.h"

#include <utf8proc.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>

namespace yz::tmpl::py {

bool decode_utf8(std::string_view s, std::u32string* out) {
  out->clear();
  out->reserve(s.size());
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const size_t n = s.size();
  for (size_t i = 0; i < n;) {
    unsigned char b = p[i];
    char32_t c;
    size_t len;
    if (b < 0x80) {
      c = b, len = 1;
    } else if ((b & 0xE0) == 0xC0) {
      c = b & 0x1F, len = 2;
    } else if ((b & 0xF0) == 0xE0) {
      c = b & 0x0F, len = 3;
    } else if ((b & 0xF8) == 0xF0) {
      c = b & 0x07, len = 4;
    } else {
      return false;
    }
    if (i + len > n) return false;
    for (size_t k = 1; k < len; ++k) {
      if ((p[i + k] & 0xC0) != 0x80) return false;
      c = (c << 6) | (p[i + k] & 0x3F);
    }
    static const char32_t kMin[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (c < kMin[len] || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF)) return false;
    out->push_back(c);
    i += len;
  }
  return true;
}

std::u32string to_u32(std::string_view s) {
  std::u32string out;
  decode_utf8(s, &out);
  return out;
}

void append_utf8(std::string* out, char32_t c) {
  if (c < 0x80) {
    out->push_back(static_cast<char>(c));
  } else if (c < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (c >> 6)));
    out->push_back(static_cast<char>(0x80 | (c & 0x3F)));
  } else if (c < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (c >> 12)));
    out->push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (c & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | (c >> 18)));
    out->push_back(static_cast<char>(0x80 | ((c >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (c & 0x3F)));
  }
}

std::string to_utf8(std::u32string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char32_t c : s) append_utf8(&out, c);
  return out;
}

size_t count_codepoints(std::string_view s) {
  size_t n = 0;
  for (unsigned char b : s) n += (b & 0xC0) != 0x80;
  return n;
}

size_t codepoint_offset(std::string_view s, size_t cp) {
  size_t i = 0;
  for (; i < s.size(); ++i) {
    if ((static_cast<unsigned char>(s[i]) & 0xC0) != 0x80) {
      if (cp == 0) return i;
      --cp;
    }
  }
  return i;
}

bool is_space(char32_t c) {
  // CPython's _PyUnicode_IsWhitespace: bidirectional types WS, B, S and category Zs.
  switch (c) {
    case 0x09: case 0x0A: case 0x0B: case 0x0C: case 0x0D: case 0x1C: case 0x1D: case 0x1E:
    case 0x1F: case 0x20: case 0x85: case 0xA0: case 0x1680: case 0x2028: case 0x2029:
    case 0x202F: case 0x205F: case 0x3000:
      return true;
    default:
      return c >= 0x2000 && c <= 0x200A;
  }
}

bool is_printable(char32_t c) {
  if (c == ' ') return true;
  switch (utf8proc_category(static_cast<utf8proc_int32_t>(c))) {
    case UTF8PROC_CATEGORY_CC: case UTF8PROC_CATEGORY_CF: case UTF8PROC_CATEGORY_CS:
    case UTF8PROC_CATEGORY_CO: case UTF8PROC_CATEGORY_CN: case UTF8PROC_CATEGORY_ZL:
    case UTF8PROC_CATEGORY_ZP: case UTF8PROC_CATEGORY_ZS:
      return false;
    default:
      return true;
  }
}

bool is_cased(char32_t c) {
  auto cat = utf8proc_category(static_cast<utf8proc_int32_t>(c));
  return cat == UTF8PROC_CATEGORY_LU || cat == UTF8PROC_CATEGORY_LL ||
         cat == UTF8PROC_CATEGORY_LT;
}

namespace {

char32_t map_upper(char32_t c) {
  return c < 0x80 ? (c >= 'a' && c <= 'z' ? c - 32 : c)
                  : static_cast<char32_t>(utf8proc_toupper(static_cast<utf8proc_int32_t>(c)));
}
char32_t map_lower(char32_t c) {
  return c < 0x80 ? (c >= 'A' && c <= 'Z' ? c + 32 : c)
                  : static_cast<char32_t>(utf8proc_tolower(static_cast<utf8proc_int32_t>(c)));
}
char32_t map_title(char32_t c) {
  return c < 0x80 ? map_upper(c)
                  : static_cast<char32_t>(utf8proc_totitle(static_cast<utf8proc_int32_t>(c)));
}

template <typename F>
std::string map_chars(std::string_view s, F f) {
  std::string out;
  out.reserve(s.size());
  for (char32_t c : to_u32(s)) append_utf8(&out, f(c));
  return out;
}

bool in_chars(char32_t c, const std::u32string* set) {
  if (!set) return is_space(c);
  return set->find(c) != std::u32string::npos;
}

}  // namespace

std::string upper(std::string_view s) { return map_chars(s, map_upper); }
std::string lower(std::string_view s) { return map_chars(s, map_lower); }

std::string title(std::string_view s) {
  // CPython do_title: title-case a character after an uncased one, lower-case it otherwise.
  std::string out;
  bool prev_cased = false;
  for (char32_t c : to_u32(s)) {
    append_utf8(&out, prev_cased ? map_lower(c) : map_title(c));
    prev_cased = is_cased(c);
  }
  return out;
}

std::string capitalize(std::string_view s) {
  std::string out;
  bool first = true;
  for (char32_t c : to_u32(s)) {
    append_utf8(&out, first ? map_title(c) : map_lower(c));
    first = false;
  }
  return out;
}

namespace {
bool case_test(std::string_view s, bool want_upper) {
  bool any = false;
  for (char32_t c : to_u32(s)) {
    auto cat = utf8proc_category(static_cast<utf8proc_int32_t>(c));
    if (cat == UTF8PROC_CATEGORY_LT) return false;
    if (cat == UTF8PROC_CATEGORY_LU) {
      if (!want_upper) return false;
      any = true;
    } else if (cat == UTF8PROC_CATEGORY_LL) {
      if (want_upper) return false;
      any = true;
    }
  }
  return any;
}
}  // namespace

bool is_lower(std::string_view s) { return case_test(s, false); }
bool is_upper(std::string_view s) { return case_test(s, true); }

std::string strip(std::string_view s, const std::optional<std::string>& chars, bool left,
                  bool right) {
  // Works on the UTF-8 bytes, decoding only the code points at the two ends.
  std::u32string set;
  if (chars) set = to_u32(*chars);
  const std::u32string* setp = chars ? &set : nullptr;
  auto cp_len = [](unsigned char b) { return b < 0x80 ? 1 : (b & 0xE0) == 0xC0 ? 2 : (b & 0xF0) == 0xE0 ? 3 : 4; };
  auto cp_at = [&](size_t i, size_t len) {
    std::u32string one;
    decode_utf8(s.substr(i, len), &one);
    return one.empty() ? char32_t{0xFFFD} : one[0];
  };
  size_t b = 0, e = s.size();
  if (left) {
    while (b < e) {
      const size_t len = std::min<size_t>(cp_len(static_cast<unsigned char>(s[b])), e - b);
      const char32_t c = len == 1 ? static_cast<unsigned char>(s[b]) : cp_at(b, len);
      if (!in_chars(c, setp)) break;
      b += len;
    }
  }
  if (right) {
    while (e > b) {
      size_t start = e - 1;
      while (start > b && (static_cast<unsigned char>(s[start]) & 0xC0) == 0x80) --start;
      const char32_t c = e - start == 1 ? static_cast<unsigned char>(s[start]) : cp_at(start, e - start);
      if (!in_chars(c, setp)) break;
      e = start;
    }
  }
  return std::string(s.substr(b, e - b));
}

std::vector<std::string> split(std::string_view s, const std::optional<std::string>& sep,
                               int64_t maxsplit, bool from_right) {
  std::vector<std::string> out;
  if (maxsplit < 0) maxsplit = INT64_MAX;
  if (sep) {
    out.reserve(static_cast<size_t>(std::min<int64_t>(count(s, *sep), maxsplit)) + 1);
    // Exact separator (CPython raises "empty separator" for ""; the caller checks that).
    std::string_view rest = s;
    if (!from_right) {
      while (maxsplit-- > 0) {
        size_t p = rest.find(*sep);
        if (p == std::string_view::npos) break;
        out.emplace_back(rest.substr(0, p));
        rest.remove_prefix(p + sep->size());
      }
      out.emplace_back(rest);
    } else {
      while (maxsplit-- > 0) {
        size_t p = rest.rfind(*sep);
        if (p == std::string_view::npos) break;
        out.emplace_back(rest.substr(p + sep->size()));
        rest = rest.substr(0, p);
      }
      out.emplace_back(rest);
      std::reverse(out.begin(), out.end());
    }
    return out;
  }
  // Whitespace runs; leading/trailing whitespace never yields empty pieces.
  std::u32string u = to_u32(s);
  if (!from_right) {
    size_t i = 0;
    while (true) {
      while (i < u.size() && is_space(u[i])) ++i;
      if (i == u.size()) break;
      if (maxsplit-- <= 0) {
        size_t e = u.size();
        while (e > i && is_space(u[e - 1])) --e;
        out.push_back(to_utf8(std::u32string_view(u).substr(i, e - i)));
        break;
      }
      size_t j = i;
      while (j < u.size() && !is_space(u[j])) ++j;
      out.push_back(to_utf8(std::u32string_view(u).substr(i, j - i)));
      i = j;
    }
  } else {
    size_t i = u.size();
    while (true) {
      while (i > 0 && is_space(u[i - 1])) --i;
      if (i == 0) break;
      if (maxsplit-- <= 0) {
        size_t b = 0;
        while (b < i && is_space(u[b])) ++b;
        out.push_back(to_utf8(std::u32string_view(u).substr(b, i - b)));
        break;
      }
      size_t j = i;
      while (j > 0 && !is_space(u[j - 1])) --j;
      out.push_back(to_utf8(std::u32string_view(u).substr(j, i - j)));
      i = j;
    }
    std::reverse(out.begin(), out.end());
  }
  return out;
}

std::vector<std::string> splitlines(std::string_view s, bool keepends) {
  std::vector<std::string> out;
  std::u32string u = to_u32(s);
  size_t b = 0;
  for (size_t i = 0; i < u.size(); ++i) {
    char32_t c = u[i];
    const bool brk = c == '\n' || c == '\r' || c == 0x0B || c == 0x0C || c == 0x1C || c == 0x1D ||
                     c == 0x1E || c == 0x85 || c == 0x2028 || c == 0x2029;
    if (!brk) continue;
    size_t e = i + 1;
    if (c == '\r' && e < u.size() && u[e] == '\n') ++e;
    out.push_back(to_utf8(std::u32string_view(u).substr(b, (keepends ? e : i) - b)));
    b = e;
    i = e - 1;
  }
  if (b < u.size()) out.push_back(to_utf8(std::u32string_view(u).substr(b)));
  return out;
}

std::string replace(std::string_view s, std::string_view old, std::string_view repl,
                    int64_t count) {
  if (count < 0) count = INT64_MAX;
  std::string out;
  if (old.empty()) {
    // Python inserts `repl` before every code point and at the end.
    size_t i = 0;
    while (i <= s.size()) {
      if (count-- > 0) out += repl;
      if (i == s.size()) break;
      size_t j = i + 1;
      while (j < s.size() && (static_cast<unsigned char>(s[j]) & 0xC0) == 0x80) ++j;
      out += s.substr(i, j - i);
      i = j;
    }
    return out;
  }
  size_t pos = 0;
  while (count-- > 0) {
    size_t p = s.find(old, pos);
    if (p == std::string_view::npos) break;
    out += s.substr(pos, p - pos);
    out += repl;
    pos = p + old.size();
  }
  out += s.substr(pos);
  return out;
}

int64_t find(std::string_view s, std::string_view sub, bool from_right) {
  size_t p = from_right ? s.rfind(sub) : s.find(sub);
  if (p == std::string_view::npos) return -1;
  return static_cast<int64_t>(count_codepoints(s.substr(0, p)));
}

int64_t count(std::string_view s, std::string_view sub) {
  if (sub.empty()) return static_cast<int64_t>(count_codepoints(s)) + 1;
  int64_t n = 0;
  for (size_t p = s.find(sub); p != std::string_view::npos; p = s.find(sub, p + sub.size())) ++n;
  return n;
}

std::string repr_str(std::string_view s) {
  // CPython unicode_repr.
  const bool has_single = s.find('\'') != std::string_view::npos;
  const bool has_double = s.find('"') != std::string_view::npos;
  const char quote = has_single && !has_double ? '"' : '\'';
  std::string out(1, quote);
  char buf[16];
  for (char32_t c : to_u32(s)) {
    if (c == static_cast<char32_t>(quote) || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c == '\t') {
      out += "\\t";
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c < 0x20 || c == 0x7F) {
      std::snprintf(buf, sizeof buf, "\\x%02x", static_cast<unsigned>(c));
      out += buf;
    } else if (c < 0x7F || is_printable(c)) {
      append_utf8(&out, c);
    } else if (c <= 0xFF) {
      std::snprintf(buf, sizeof buf, "\\x%02x", static_cast<unsigned>(c));
      out += buf;
    } else if (c <= 0xFFFF) {
      std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(c));
      out += buf;
    } else {
      std::snprintf(buf, sizeof buf, "\\U%08x", static_cast<unsigned>(c));
      out += buf;
    }
  }
  out += quote;
  return out;
}

std::string float_repr(double x) {
  if (std::isnan(x)) return "nan";
  if (std::isinf(x)) return x < 0 ? "-inf" : "inf";
  if (x == 0) return std::signbit(x) ? "-0.0" : "0.0";
  // Shortest digit string that reads back as x: the correctly rounded p-digit value for the
  // smallest such p is what David Gay's dtoa (CPython's repr) returns.
  char buf[40];
  for (int prec = 1; prec <= 17; ++prec) {
    std::snprintf(buf, sizeof buf, "%.*e", prec - 1, x);
    if (std::strtod(buf, nullptr) == x) break;
  }
  std::string s(buf);
  const bool neg = s[0] == '-';
  if (neg) s.erase(0, 1);
  const size_t e = s.find('e');
  std::string digits = s.substr(0, e);
  digits.erase(std::remove(digits.begin(), digits.end(), '.'), digits.end());
  const int exp10 = std::atoi(s.c_str() + e + 1);
  const int decpt = exp10 + 1;  // x = 0.DIGITS * 10^decpt
  const int nd = static_cast<int>(digits.size());
  std::string out = neg ? "-" : "";
  // CPython format_float_short for repr: exponent form when decpt <= -4 or decpt > 16.
  if (decpt > -4 && decpt <= 16) {
    if (decpt <= 0) {
      out += "0." + std::string(-decpt, '0') + digits;
    } else if (decpt >= nd) {
      out += digits + std::string(decpt - nd, '0') + ".0";
    } else {
      out += digits.substr(0, decpt) + "." + digits.substr(decpt);
    }
    return out;
  }
  out += digits.substr(0, 1);
  if (nd > 1) out += "." + digits.substr(1);
  const int ex = decpt - 1;
  std::snprintf(buf, sizeof buf, "e%c%02d", ex < 0 ? '-' : '+', ex < 0 ? -ex : ex);
  return out + buf;
}

}  // namespace yz::tmpl::py
