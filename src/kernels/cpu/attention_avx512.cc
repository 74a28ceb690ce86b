// CPU attention kernel compiled for avx512 (flags in src/kernels/CMakeLists.txt); see
// attention_impl.h.
#define YZ_CPU_ATTENTION_ENTRY attention_avx512
#include "kernels/cpu/attention_impl.h"
