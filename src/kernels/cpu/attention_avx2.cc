// CPU attention kernel compiled for avx2 (flags in src/kernels/CMakeLists.txt); see
// attention_impl.h.
#define YZ_CPU_ATTENTION_ENTRY attention_avx2
#include "kernels/cpu/attention_impl.h"
