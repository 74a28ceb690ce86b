// The safetensors file format without I/O or torch: dtypes and a header parser that validates
// every field against the file size, so that a malformed file can never cause an out-of-bounds
// read. Spec: github.com/huggingface/safetensors (8-byte LE header length, JSON header, data).
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace yz {

enum class DType { kF64, kF32, kF16, kBF16, kF8E4M3, kF8E5M2, kI64, kI32, kI16, kI8, kU8, kBool };

size_t dtype_size(DType dtype);
const char* dtype_name(DType dtype);   // safetensors spelling, e.g. "BF16"
bool parse_dtype(const std::string& name, DType* out);

struct TensorInfo {
  DType dtype = DType::kF32;
  std::vector<int64_t> shape;
  uint64_t begin = 0;  // byte offsets relative to the start of the data section
  uint64_t end = 0;
  int64_t numel() const;
};

struct SafetensorsHeader {
  std::map<std::string, TensorInfo> tensors;
  std::map<std::string, std::string> metadata;  // "__metadata__", string -> string
  uint64_t data_start = 0;                      // 8 + header length
};

// The reference implementation refuses headers over 100 MB; so do we (a 72B index has ~1 MB).
constexpr uint64_t kMaxHeaderBytes = 100ull << 20;

// Parses and validates the header of a whole file image [data, data + size). `filename` only
// names the file in error messages. Throws yz::Error naming the problem.
SafetensorsHeader parse_safetensors_header(const uint8_t* data, size_t size,
                                           const std::string& filename);

// Serialises a header (tensors in the given order, offsets as given) padded with spaces so that
// the data section starts 8-byte aligned, as the reference writer does.
std::string serialize_safetensors_header(
    const std::vector<std::pair<std::string, TensorInfo>>& tensors,
    const std::map<std::string, std::string>& metadata);

}  // namespace yz
