// safetensors <-> libtorch (see tensor.h).
#include "util/tensor.h"

#include <cmath>
#include <cstring>

#include "util/error.h"
#include "util/torch_compat.h"

namespace yz {

at::ScalarType to_scalar_type(DType dtype) {
  switch (dtype) {
    case DType::kF64: return at::kDouble;
    case DType::kF32: return at::kFloat;
    case DType::kF16: return at::kHalf;
    case DType::kBF16: return at::kBFloat16;
    case DType::kI64: return at::kLong;
    case DType::kI32: return at::kInt;
    case DType::kI16: return at::kShort;
    case DType::kI8: return at::kChar;
    case DType::kU8: return at::kByte;
    case DType::kBool: return at::kBool;
#if YZ_TORCH_HAS_FLOAT8
    case DType::kF8E4M3: return at::kFloat8_e4m3fn;
    case DType::kF8E5M2: return at::kFloat8_e5m2;
#else
    case DType::kF8E4M3: return at::kFloat;  // decoded by to_tensor
    case DType::kF8E5M2: break;
#endif
  }
  YZ_CHECK(false, "dtype ", dtype_name(dtype), " is not supported by this libtorch (",
           torch_version_string(), ")");
}

DType from_scalar_type(at::ScalarType type) {
  switch (type) {
    case at::kDouble: return DType::kF64;
    case at::kFloat: return DType::kF32;
    case at::kHalf: return DType::kF16;
    case at::kBFloat16: return DType::kBF16;
    case at::kLong: return DType::kI64;
    case at::kInt: return DType::kI32;
    case at::kShort: return DType::kI16;
    case at::kChar: return DType::kI8;
    case at::kByte: return DType::kU8;
    case at::kBool: return DType::kBool;
#if YZ_TORCH_HAS_FLOAT8
    case at::kFloat8_e4m3fn: return DType::kF8E4M3;
    case at::kFloat8_e5m2: return DType::kF8E5M2;
#endif
    default: break;
  }
  YZ_CHECK(false, "tensor dtype ", c10::toString(type), " cannot be written to safetensors");
}

float fp8_e4m3_to_float(uint8_t bits) {
  const int sign = bits >> 7;
  const int exponent = (bits >> 3) & 0xf;
  const int mantissa = bits & 0x7;
  float value;
  if (exponent == 0xf && mantissa == 0x7) {
    value = std::nanf("");
  } else if (exponent == 0) {
    value = std::ldexp(static_cast<float>(mantissa) / 8.0f, -6);  // subnormal
  } else {
    value = std::ldexp(1.0f + static_cast<float>(mantissa) / 8.0f, exponent - 7);
  }
  return sign ? -value : value;
}

at::Tensor to_tensor(const TensorView& view) {
  std::vector<int64_t> shape = view.info.shape;
#if !YZ_TORCH_HAS_FLOAT8
  if (view.info.dtype == DType::kF8E4M3) {
    at::Tensor out = at::empty(shape, at::kFloat);
    float* dst = out.data_ptr<float>();
    for (size_t i = 0; i < view.nbytes(); ++i) dst[i] = fp8_e4m3_to_float(view.data[i]);
    return out;
  }
#endif
  const at::ScalarType type = to_scalar_type(view.info.dtype);
  const size_t elem = dtype_size(view.info.dtype);
  auto* ptr = const_cast<uint8_t*>(view.data);  // the mapping is private: writes stay in memory
  if (reinterpret_cast<uintptr_t>(ptr) % elem != 0) {
    at::Tensor out = at::empty(shape, at::TensorOptions().dtype(type));
    if (view.nbytes() > 0) std::memcpy(out.data_ptr(), ptr, view.nbytes());
    return out;
  }
  std::shared_ptr<MappedFile> owner = view.owner;
  return at::from_blob(
      ptr, shape, [owner](void*) mutable { owner.reset(); },
      at::TensorOptions().dtype(type));
}

void save_safetensors(const fs::path& path,
                      const std::vector<std::pair<std::string, at::Tensor>>& tensors,
                      const std::map<std::string, std::string>& metadata) {
  std::vector<std::pair<std::string, TensorInfo>> infos;
  std::vector<at::Tensor> data;
  uint64_t offset = 0;
  for (const auto& [name, t] : tensors) {
    at::Tensor c = t.to(at::kCPU).contiguous();
    TensorInfo info;
    info.dtype = from_scalar_type(c.scalar_type());
    info.shape = c.sizes().vec();
    info.begin = offset;
    offset += static_cast<uint64_t>(c.numel()) * c.element_size();
    info.end = offset;
    infos.emplace_back(name, info);
    data.push_back(c);
  }
  std::string bytes = serialize_safetensors_header(infos, metadata);
  for (const auto& c : data)
    bytes.append(static_cast<const char*>(c.data_ptr()), c.numel() * c.element_size());
  write_file_atomic(path, bytes);
}

void write_tensor(ShardedWriter& writer, const std::string& name, const at::Tensor& tensor) {
  at::Tensor t = tensor.to(at::kCPU).contiguous();
  writer.add(name, from_scalar_type(t.scalar_type()), t.sizes().vec(), t.data_ptr(),
             static_cast<size_t>(t.numel()) * t.element_size());
}

}  // namespace yz
