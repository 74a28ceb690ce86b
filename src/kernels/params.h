// Plain launch parameters for CUDA kernels (no torch types: .cu files stay framework-free).
#pragma once

#include <cstdint>

namespace yz::kernels {

// y = x / sqrt(mean(x^2) + eps) * weight, row by row (transformers' LlamaRMSNorm: the
// normalisation is computed in float32 and cast back before the weight multiply).
struct RmsNormParams {
  const void* x;       // [rows, cols], dtype per `dtype`
  const void* weight;  // [cols]
  void* y;             // [rows, cols]
  int64_t rows;
  int64_t cols;
  float eps;
  int dtype;           // 0 = float32, 1 = bfloat16
};

constexpr int kDTypeF32 = 0;
constexpr int kDTypeBF16 = 1;

// Launches on the current CUDA stream; defined in rms_norm.cu (CUDA builds only).
void rms_norm_launch(const RmsNormParams& params, void* stream);

}  // namespace yz::kernels
