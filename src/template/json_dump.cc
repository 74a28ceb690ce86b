// Python's json.dumps on template values, as transformers' tojson filter calls it
// (json/encoder.py: py_encode_basestring(_ascii), _make_iterencode, float.__repr__).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <vector>

#include "template/pystr.h"
#include "template/value.h"

namespace yz::tmpl {

namespace {

void encode_string(const std::string& s, bool ensure_ascii, std::string* out) {
  char buf[16];
  *out += '"';
  for (char32_t c : py::to_u32(s)) {
    switch (c) {
      case '"': *out += "\\\""; continue;
      case '\\': *out += "\\\\"; continue;
      case '\n': *out += "\\n"; continue;
      case '\r': *out += "\\r"; continue;
      case '\t': *out += "\\t"; continue;
      case '\b': *out += "\\b"; continue;
      case '\f': *out += "\\f"; continue;
      default: break;
    }
    if (c < 0x20 || (ensure_ascii && c > 0x7E)) {
      if (c <= 0xFFFF) {
        std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(c));
      } else {  // a surrogate pair, as encode_basestring_ascii writes it
        const unsigned v = static_cast<unsigned>(c) - 0x10000;
        std::snprintf(buf, sizeof buf, "\\u%04x\\u%04x", 0xD800 | (v >> 10), 0xDC00 | (v & 0x3FF));
      }
      *out += buf;
    } else {
      py::append_utf8(out, c);
    }
  }
  *out += '"';
}

// json.dumps turns int/float/bool/None keys into strings and refuses other keys.
std::string key_text(const Value& k) {
  switch (k.kind()) {
    case Value::Kind::kString: return k.str();
    case Value::Kind::kInt: return std::to_string(k.integer());
    case Value::Kind::kBool: return k.boolean() ? "true" : "false";
    case Value::Kind::kNone: return "null";
    case Value::Kind::kFloat: {
      const double x = k.number();
      if (std::isnan(x)) return "NaN";
      if (std::isinf(x)) return x < 0 ? "-Infinity" : "Infinity";
      return py::float_repr(x);
    }
    default:
      throw EvalError("keys must be str, int, float, bool or None, not " + type_name(k));
  }
}

void encode(const Value& v, const JsonDumpOptions& o, int level, std::string* out) {
  switch (v.kind()) {
    case Value::Kind::kNone: *out += "null"; return;
    case Value::Kind::kBool: *out += v.boolean() ? "true" : "false"; return;
    case Value::Kind::kInt: *out += std::to_string(v.integer()); return;
    case Value::Kind::kFloat: {
      const double x = v.number();
      if (std::isnan(x)) *out += "NaN";
      else if (std::isinf(x)) *out += x < 0 ? "-Infinity" : "Infinity";
      else *out += py::float_repr(x);
      return;
    }
    case Value::Kind::kString: encode_string(v.str(), o.ensure_ascii, out); return;
    default: break;
  }
  const bool is_seq = v.is_list() && v.list().kind != SeqKind::kGenerator;
  if (!is_seq && !v.is_dict())
    throw EvalError("Object of type " + type_name(v) + " is not JSON serializable");
  const size_t n = is_seq ? v.list().items.size() : v.dict().items.size();
  const char open = is_seq ? '[' : '{', close = is_seq ? ']' : '}';
  if (n == 0) {
    *out += open;
    *out += close;
    return;
  }
  std::string newline_indent;
  if (o.has_indent) {
    if (o.indent.size() * static_cast<size_t>(level + 1) > o.max_bytes)
      throw EvalError("tojson output longer than max_output_bytes (" + std::to_string(o.max_bytes) + ")");
    newline_indent = "\n";
    for (int i = 0; i <= level; ++i) newline_indent += o.indent;
  }
  *out += open;
  *out += newline_indent;
  std::vector<size_t> order(n);
  for (size_t i = 0; i < n; ++i) order[i] = i;
  if (!is_seq && o.sort_keys)
    std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
      return compare(v.dict().items[a].first, v.dict().items[b].first) == -1;
    });
  for (size_t k = 0; k < n; ++k) {
    if (out->size() > o.max_bytes)
      throw EvalError("tojson output longer than max_output_bytes (" + std::to_string(o.max_bytes) + ")");
    if (k) *out += o.item_separator + newline_indent;
    if (is_seq) {
      encode(v.list().items[order[k]], o, level + 1, out);
    } else {
      const auto& [key, val] = v.dict().items[order[k]];
      encode_string(key_text(key), o.ensure_ascii, out);
      *out += o.key_separator;
      encode(val, o, level + 1, out);
    }
  }
  if (o.has_indent) {
    *out += "\n";
    for (int i = 0; i < level; ++i) *out += o.indent;
  }
  *out += close;
}

}  // namespace

std::string dump_json(const Value& v, const JsonDumpOptions& options) {
  std::string out;
  encode(v, options, 0, &out);
  return out;
}

}  // namespace yz::tmpl
