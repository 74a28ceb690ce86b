// Readers for the file formats the benchmark sets come in: JSON Lines, CSV (RFC 4180, quoted
// fields may span lines), latin-1 text, and the Python dict literals CFLUE stores its options
// in. Every error names FILE:LINE (or FILE and the record) and what is wrong.
#pragma once

#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "util/fs.h"

namespace yz {

struct JsonlRow {
  nlohmann::json value;  // an object
  int64_t line = 0;      // 1-based line in the file
};
// One JSON object per non-blank line.
std::vector<JsonlRow> read_jsonl(const fs::path& path);

// A string field of a JSONL row; error "FILE:LINE: field 'name' ..." when absent or not a string.
std::string jsonl_string(const fs::path& path, const JsonlRow& row, const std::string& name);

struct CsvRecord {
  std::map<std::string, std::string> fields;  // by header name
  int64_t line = 0;                           // line where the record starts
};
// The first record is the header (a UTF-8 BOM before it is dropped); every record must have as
// many fields as the header.
std::vector<CsvRecord> read_csv(const fs::path& path);

// ISO-8859-1 bytes to UTF-8 (every byte is the code point of the same value).
std::string latin1_to_utf8(const std::string& bytes);

// Python's str.isspace() characters at the end of `s`, in bytes (UTF-8), and str.strip().
size_t trailing_space_bytes(const std::string& s);
std::string py_strip(const std::string& s);

// A Python dict literal of string keys and string values, e.g. "{'A': '...', 'B': \"...\"}"
// (quotes ' or ", backslash escapes as Python reads them), in source order.
std::vector<std::pair<std::string, std::string>> parse_python_str_dict(const std::string& text);

}  // namespace yz
