// The one place that knows libtorch versions differ: Debian's 1.13 (CPU) and PyTorch's bundled
// 2.x (CUDA). Everything else includes this instead of testing versions itself.
#pragma once

#include <ATen/ATen.h>
#include <torch/version.h>

// at::kFloat8_e4m3fn exists from PyTorch 2.1 on; 1.13 reads F8_E4M3 by decoding to float32.
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 1)
#define YZ_TORCH_HAS_FLOAT8 1
#else
#define YZ_TORCH_HAS_FLOAT8 0
#endif

namespace yz {

inline const char* torch_version_string() { return TORCH_VERSION; }

}  // namespace yz
