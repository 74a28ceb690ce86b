// Bridges between safetensors views and libtorch tensors: zero-copy tensors over the mmap
// (the mapping lives as long as any tensor made from it) and writing tensors to shards.
#pragma once

#include <ATen/ATen.h>

#include "util/safetensors.h"
#include "util/safetensors_writer.h"

namespace yz {

at::ScalarType to_scalar_type(DType dtype);  // throws for dtypes this libtorch cannot hold
DType from_scalar_type(at::ScalarType type);

// Zero-copy CPU tensor over the view's bytes (a copy only when the bytes are misaligned for the
// dtype). F8_E4M3 on a libtorch without float8 is decoded into a new float32 tensor.
at::Tensor to_tensor(const TensorView& view);

// Decodes OCP FP8 E4M3 (fn variant: no infinities, 0x7f/0xff are NaN) to float.
float fp8_e4m3_to_float(uint8_t bits);

// Writes named tensors as one .safetensors file, atomically (temp file + rename).
void save_safetensors(const fs::path& path,
                      const std::vector<std::pair<std::string, at::Tensor>>& tensors,
                      const std::map<std::string, std::string>& metadata = {});

// Writes a tensor (any device / layout; made contiguous on CPU first).
void write_tensor(ShardedWriter& writer, const std::string& name, const at::Tensor& tensor);

}  // namespace yz
