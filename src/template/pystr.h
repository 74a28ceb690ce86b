// Python `str` semantics on UTF-8 text, for the template engine: Jinja runs on Python strings,
// so lengths, slices, strip/split, case mapping, repr() and float formatting must follow
// CPython (3.11) to render byte for byte what transformers renders.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace yz::tmpl::py {

// UTF-8 <-> code points. decode returns false on ill-formed input (overlong, surrogate, > U+10FFFF).
bool decode_utf8(std::string_view s, std::u32string* out);
std::u32string to_u32(std::string_view s);  // input known valid
std::string to_utf8(std::u32string_view s);
void append_utf8(std::string* out, char32_t c);
size_t count_codepoints(std::string_view s);
// Byte offset of the code point with index `cp` (clamped to the end).
size_t codepoint_offset(std::string_view s, size_t cp);

// str.isspace() (also what `\s` matches in Python's re on str patterns).
bool is_space(char32_t c);
// str.isprintable(), which decides repr()'s escapes.
bool is_printable(char32_t c);
bool is_cased(char32_t c);

std::string upper(std::string_view s);
std::string lower(std::string_view s);
std::string title(std::string_view s);       // str.title()
std::string capitalize(std::string_view s);  // str.capitalize()
bool is_lower(std::string_view s);           // str.islower()
bool is_upper(std::string_view s);           // str.isupper()

// str.strip/lstrip/rstrip; chars == nullopt strips whitespace.
std::string strip(std::string_view s, const std::optional<std::string>& chars, bool left,
                  bool right);
// str.split / str.rsplit; sep == nullopt splits on whitespace runs.
std::vector<std::string> split(std::string_view s, const std::optional<std::string>& sep,
                               int64_t maxsplit, bool from_right);
// str.splitlines(keepends): \n, \r, \r\n, \v, \f, \x1c-\x1e, \x85, U+2028, U+2029.
std::vector<std::string> splitlines(std::string_view s, bool keepends);
std::string replace(std::string_view s, std::string_view old, std::string_view repl,
                    int64_t count);
// str.find / str.rfind / str.count, in code points (-1 when absent).
int64_t find(std::string_view s, std::string_view sub, bool from_right);
int64_t count(std::string_view s, std::string_view sub);

// repr(str): single quotes unless the text has ' and no ", escapes as CPython does.
std::string repr_str(std::string_view s);
// repr(float) / str(float): shortest round-trip digits, CPython's layout ("1.0", "1e+16").
std::string float_repr(double x);

}  // namespace yz::tmpl::py
