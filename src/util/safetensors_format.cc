// Safetensors header parsing and serialisation (see safetensors_format.h).
#include "util/safetensors_format.h"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <set>

#include "util/error.h"

namespace yz {

namespace {

struct DTypeEntry {
  DType dtype;
  const char* name;
  size_t size;
};

constexpr DTypeEntry kDTypes[] = {
    {DType::kF64, "F64", 8},        {DType::kF32, "F32", 4},       {DType::kF16, "F16", 2},
    {DType::kBF16, "BF16", 2},      {DType::kF8E4M3, "F8_E4M3", 1}, {DType::kF8E5M2, "F8_E5M2", 1},
    {DType::kI64, "I64", 8},        {DType::kI32, "I32", 4},       {DType::kI16, "I16", 2},
    {DType::kI8, "I8", 1},          {DType::kU8, "U8", 1},         {DType::kBool, "BOOL", 1},
};

const DTypeEntry& entry(DType dtype) {
  for (const auto& e : kDTypes)
    if (e.dtype == dtype) return e;
  YZ_ASSERT(false, "unknown DType");
}

bool mul_overflows(uint64_t a, uint64_t b, uint64_t* out) {
  return __builtin_mul_overflow(a, b, out);
}

}  // namespace

size_t dtype_size(DType dtype) { return entry(dtype).size; }
const char* dtype_name(DType dtype) { return entry(dtype).name; }

bool parse_dtype(const std::string& name, DType* out) {
  for (const auto& e : kDTypes) {
    if (name == e.name) {
      *out = e.dtype;
      return true;
    }
  }
  return false;
}

int64_t TensorInfo::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

SafetensorsHeader parse_safetensors_header(const uint8_t* data, size_t size,
                                           const std::string& filename) {
  using nlohmann::json;
  const std::string& f = filename;
  YZ_CHECK(size >= 8, f, ": truncated safetensors file (", size,
           " bytes, the 8-byte header length is missing)");
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | data[i];  // little endian
  YZ_CHECK(n <= kMaxHeaderBytes, f, ": header length ", n, " exceeds the 100 MB limit");
  YZ_CHECK(n <= size - 8, f, ": header length ", n, " runs past the end of the file (",
           size, " bytes)");
  const char* text = reinterpret_cast<const char*>(data + 8);

  // Duplicate tensor names would silently shadow each other in a JSON object; catch them in
  // the parser callback while the keys stream past.
  std::set<std::string> seen;
  std::string duplicate;
  json::parser_callback_t cb = [&](int depth, json::parse_event_t event, json& parsed) {
    if (event == json::parse_event_t::key && depth == 1) {
      std::string key = parsed.get<std::string>();
      if (!seen.insert(key).second && duplicate.empty()) duplicate = key;
    }
    return true;
  };
  json header;
  try {
    header = json::parse(text, text + n, cb);
  } catch (const json::exception& e) {
    YZ_CHECK(false, f, ": header is not valid JSON (", e.what(), ")");
  }
  YZ_CHECK(duplicate.empty(), f, ": duplicate tensor name '", duplicate, "' in the header");
  YZ_CHECK(header.is_object(), f, ": header is not a JSON object");

  SafetensorsHeader out;
  out.data_start = 8 + n;
  const uint64_t data_size = size - 8 - n;
  std::vector<std::pair<std::pair<uint64_t, uint64_t>, std::string>> ranges;
  for (auto it = header.begin(); it != header.end(); ++it) {
    const std::string& name = it.key();
    const json& v = it.value();
    if (name == "__metadata__") {
      YZ_CHECK(v.is_object(), f, ": __metadata__ is not an object");
      for (auto m = v.begin(); m != v.end(); ++m) {
        YZ_CHECK(m.value().is_string(), f, ": __metadata__ value '", m.key(),
                 "' is not a string");
        out.metadata[m.key()] = m.value().get<std::string>();
      }
      continue;
    }
    const std::string t = f + ": tensor '" + name + "'";
    YZ_CHECK(v.is_object(), t, " is not an object");
    YZ_CHECK(v.contains("dtype") && v["dtype"].is_string(), t, ": missing or non-string dtype");
    TensorInfo info;
    std::string dt = v["dtype"].get<std::string>();
    YZ_CHECK(parse_dtype(dt, &info.dtype), t, ": unknown dtype '", dt, "'");
    YZ_CHECK(v.contains("shape") && v["shape"].is_array(), t, ": missing or non-array shape");
    uint64_t numel = 1;
    for (const json& d : v["shape"]) {
      YZ_CHECK(d.is_number_unsigned() || (d.is_number_integer() && d.get<int64_t>() >= 0), t,
               ": shape entries must be non-negative integers");
      uint64_t dim = d.get<uint64_t>();
      YZ_CHECK(!mul_overflows(numel, dim, &numel), t, ": shape overflows");
      info.shape.push_back(static_cast<int64_t>(dim));
    }
    YZ_CHECK(v.contains("data_offsets") && v["data_offsets"].is_array() &&
                 v["data_offsets"].size() == 2,
             t, ": data_offsets must be an array of two integers");
    for (const json& o : v["data_offsets"])
      YZ_CHECK(o.is_number_unsigned() || (o.is_number_integer() && o.get<int64_t>() >= 0), t,
               ": data_offsets must be non-negative integers");
    info.begin = v["data_offsets"][0].get<uint64_t>();
    info.end = v["data_offsets"][1].get<uint64_t>();
    YZ_CHECK(info.begin <= info.end, t, ": data_offsets [", info.begin, ", ", info.end,
             "] are reversed");
    YZ_CHECK(info.end <= data_size, t, ": data_offsets [", info.begin, ", ", info.end,
             "] out of range (data section has ", data_size, " bytes)");
    uint64_t bytes = 0;
    YZ_CHECK(!mul_overflows(numel, dtype_size(info.dtype), &bytes), t, ": byte size overflows");
    YZ_CHECK(bytes == info.end - info.begin, t, ": byte size ", info.end - info.begin,
             " does not match dtype ", dt, " x shape (", bytes, " bytes expected)");
    if (info.end > info.begin) ranges.push_back({{info.begin, info.end}, name});
    out.tensors.emplace(name, std::move(info));
  }
  std::sort(ranges.begin(), ranges.end());
  for (size_t i = 1; i < ranges.size(); ++i) {
    YZ_CHECK(ranges[i].first.first >= ranges[i - 1].first.second, f, ": tensors '",
             ranges[i - 1].second, "' and '", ranges[i].second, "' overlap");
  }
  return out;
}

std::string serialize_safetensors_header(
    const std::vector<std::pair<std::string, TensorInfo>>& tensors,
    const std::map<std::string, std::string>& metadata) {
  nlohmann::ordered_json h = nlohmann::ordered_json::object();
  if (!metadata.empty()) h["__metadata__"] = metadata;
  for (const auto& [name, info] : tensors) {
    h[name] = {{"dtype", dtype_name(info.dtype)},
               {"shape", info.shape},
               {"data_offsets", {info.begin, info.end}}};
  }
  std::string text = h.dump();
  while ((8 + text.size()) % 8 != 0) text.push_back(' ');
  std::string out(8, '\0');
  uint64_t n = text.size();
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((n >> (8 * i)) & 0xff);
  return out + text;
}

}  // namespace yz
