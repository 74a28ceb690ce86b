// CPU attention kernel compiled for generic (flags in src/kernels/CMakeLists.txt); see
// attention_impl.h.
#define YZ_CPU_ATTENTION_ENTRY attention_generic
#include "kernels/cpu/attention_impl.h"
