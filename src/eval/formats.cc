// Benchmark file formats (see formats.h).
#include "eval/formats.h"

#include "util/error.h"
#include "util/text_file.h"

namespace yz {

namespace {

void append_utf8(std::string* out, uint32_t cp) {
  if (cp < 0x80) {
    out->push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Python's str.isspace() (Unicode White_Space plus the ASCII separators 0x1C-0x1F).
bool py_space(uint32_t cp) {
  return (cp >= 0x09 && cp <= 0x0D) || (cp >= 0x1C && cp <= 0x20) || cp == 0x85 || cp == 0xA0 ||
         cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 ||
         cp == 0x202F || cp == 0x205F || cp == 0x3000;
}

// The code point starting at s[i] and its length in bytes (invalid bytes decode as themselves).
std::pair<uint32_t, size_t> decode_at(const std::string& s, size_t i) {
  const auto b = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char c = b(i);
  size_t n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 1;
  if (i + n > s.size()) n = 1;
  if (n == 1) return {c, 1};
  uint32_t cp = c & (0x7F >> n);
  for (size_t k = 1; k < n; ++k) cp = (cp << 6) | (b(i + k) & 0x3F);
  return {cp, n};
}

}  // namespace

size_t trailing_space_bytes(const std::string& s) {
  size_t end = s.size();
  while (end > 0) {
    size_t start = end - 1;
    while (start > 0 && (static_cast<unsigned char>(s[start]) & 0xC0) == 0x80) --start;
    const auto [cp, n] = decode_at(s, start);
    if (start + n != end || !py_space(cp)) break;
    end = start;
  }
  return s.size() - end;
}

std::string py_strip(const std::string& s) {
  const size_t end = s.size() - trailing_space_bytes(s);
  size_t begin = 0;
  while (begin < end) {
    const auto [cp, n] = decode_at(s, begin);
    if (!py_space(cp)) break;
    begin += n;
  }
  return s.substr(begin, end - begin);
}

std::vector<JsonlRow> read_jsonl(const fs::path& path) {
  const std::string text = read_text_input(path);
  std::vector<JsonlRow> rows;
  size_t pos = 0;
  for (int64_t line = 1; pos < text.size(); ++line) {
    size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    const std::string row = text.substr(pos, end - pos);
    pos = end + 1;
    if (row.find_first_not_of(" \t\r") == std::string::npos) continue;
    nlohmann::json value;
    try {
      value = nlohmann::json::parse(row);
    } catch (const nlohmann::json::exception& e) {
      YZ_CHECK(false, path.string(), ":", line, ": not valid JSON (", e.what(), ")");
    }
    YZ_CHECK(value.is_object(), path.string(), ":", line, ": expected a JSON object, got ",
             value.type_name());
    rows.push_back({std::move(value), line});
  }
  return rows;
}

std::string jsonl_string(const fs::path& path, const JsonlRow& row, const std::string& name) {
  YZ_CHECK(row.value.contains(name), path.string(), ":", row.line, ": missing field '", name, "'");
  const auto& v = row.value[name];
  YZ_CHECK(v.is_string(), path.string(), ":", row.line, ": field '", name,
           "' must be a string, got ", v.type_name());
  return v.get<std::string>();
}

std::vector<CsvRecord> read_csv(const fs::path& path) {
  std::string text = read_text_input(path);
  if (text.rfind("\xEF\xBB\xBF", 0) == 0) text.erase(0, 3);
  std::vector<std::vector<std::string>> records;
  std::vector<int64_t> starts;
  std::vector<std::string> fields;
  std::string field;
  bool quoted = false, at_field_start = true;
  int64_t line = 1, record_line = 1;
  auto end_field = [&] {
    fields.push_back(std::move(field));
    field.clear();
    at_field_start = true;
  };
  auto end_record = [&] {
    end_field();
    if (!(fields.size() == 1 && fields[0].empty())) {  // blank lines carry no record
      records.push_back(std::move(fields));
      starts.push_back(record_line);
    }
    fields.clear();
  };
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (quoted) {
      if (c == '"' && i + 1 < text.size() && text[i + 1] == '"') {
        field.push_back('"');
        ++i;
      } else if (c == '"') {
        quoted = false;
      } else {
        if (c == '\n') ++line;
        field.push_back(c);
      }
    } else if (c == '"' && at_field_start) {
      quoted = true;
      at_field_start = false;
    } else if (c == ',') {
      end_field();
    } else if (c == '\n' || c == '\r') {
      if (c == '\r' && i + 1 < text.size() && text[i + 1] == '\n') ++i;
      end_record();
      record_line = ++line;
    } else {
      YZ_CHECK(c != '"', path.string(), ":", line, ": stray quote inside an unquoted field");
      field.push_back(c);
      at_field_start = false;
    }
  }
  YZ_CHECK(!quoted, path.string(), ":", record_line, ": quoted field not closed before the end");
  if (!field.empty() || !fields.empty()) end_record();
  YZ_CHECK(!records.empty(), path.string(), ": empty CSV file (no header)");
  const std::vector<std::string>& header = records[0];
  std::vector<CsvRecord> out;
  for (size_t r = 1; r < records.size(); ++r) {
    YZ_CHECK(records[r].size() == header.size(), path.string(), ":", starts[r], ": ",
             records[r].size(), " fields, the header has ", header.size());
    CsvRecord rec;
    rec.line = starts[r];
    for (size_t f = 0; f < header.size(); ++f) rec.fields[header[f]] = records[r][f];
    out.push_back(std::move(rec));
  }
  return out;
}

std::string latin1_to_utf8(const std::string& bytes) {
  std::string out;
  out.reserve(bytes.size() + bytes.size() / 8);
  for (unsigned char b : bytes) append_utf8(&out, b);
  return out;
}

std::vector<std::pair<std::string, std::string>> parse_python_str_dict(const std::string& text) {
  size_t i = 0;
  auto fail = [&](const std::string& what) -> void {
    YZ_CHECK(false, "not a Python dict of strings (", what, " at offset ", i, ")");
  };
  auto skip_ws = [&] {
    while (i < text.size() &&
           (text[i] == ' ' || text[i] == '\t' || text[i] == '\n' || text[i] == '\r'))
      ++i;
  };
  // A Python string literal with ' or " quotes (Lib/ast.py literal_eval reads the same).
  auto read_string = [&]() -> std::string {
    if (i >= text.size() || (text[i] != '\'' && text[i] != '"')) fail("expected a quoted string");
    const char quote = text[i++];
    std::string s;
    while (true) {
      if (i >= text.size()) fail("unterminated string");
      const char c = text[i++];
      if (c == quote) break;
      if (c != '\\') {
        s.push_back(c);
        continue;
      }
      if (i >= text.size()) fail("unterminated escape");
      const char e = text[i++];
      // Python's single-character escapes; \<newline> continues the line.
      static const std::map<char, const char*> kSimple = {
          {'\n', ""},  {'\\', "\\"}, {'\'', "'"}, {'"', "\""}, {'a', "\a"}, {'b', "\b"},
          {'f', "\f"}, {'n', "\n"},  {'r', "\r"}, {'t', "\t"}, {'v', "\v"}};
      if (auto it = kSimple.find(e); it != kSimple.end()) {
        s += it->second;
        continue;
      }
      if (e == 'x' || e == 'u' || e == 'U') {  // \xhh, \uhhhh, \Uhhhhhhhh
        const int digits = e == 'x' ? 2 : e == 'u' ? 4 : 8;
        uint32_t cp = 0;
        for (int d = 0; d < digits; ++d) {
          const int h = i < text.size() ? hex_value(text[i]) : -1;
          if (h < 0) fail("bad \\" + std::string(1, e) + " escape");
          cp = cp * 16 + static_cast<uint32_t>(h);
          ++i;
        }
        if (cp > 0x10FFFF) fail("code point out of range");
        append_utf8(&s, cp);
      } else if (e >= '0' && e <= '7') {  // up to three octal digits
        uint32_t cp = static_cast<uint32_t>(e - '0');
        for (int d = 0; d < 2 && i < text.size() && text[i] >= '0' && text[i] <= '7'; ++d)
          cp = cp * 8 + static_cast<uint32_t>(text[i++] - '0');
        append_utf8(&s, cp);
      } else {  // Python keeps unknown escapes as written
        s.push_back('\\');
        s.push_back(e);
      }
    }
    return s;
  };
  std::vector<std::pair<std::string, std::string>> out;
  skip_ws();
  if (i >= text.size() || text[i] != '{') fail("expected '{'");
  ++i;
  skip_ws();
  if (i < text.size() && text[i] == '}') {
    ++i;
  } else {
    while (true) {
      skip_ws();
      std::string key = read_string();
      skip_ws();
      if (i >= text.size() || text[i] != ':') fail("expected ':'");
      ++i;
      skip_ws();
      std::string value = read_string();
      out.emplace_back(std::move(key), std::move(value));
      skip_ws();
      if (i < text.size() && text[i] == ',') {
        ++i;
        skip_ws();
        if (i < text.size() && text[i] == '}') {
          ++i;
          break;
        }
        continue;
      }
      if (i < text.size() && text[i] == '}') {
        ++i;
        break;
      }
      fail("expected ',' or '}'");
    }
  }
  skip_ws();
  if (i != text.size()) fail("trailing text after '}'");
  return out;
}

}  // namespace yz
