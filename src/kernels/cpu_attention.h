// The CPU attention kernel's driver (cpu_attention.cc): run a whole AttentionParams problem on
// libtorch's intra-op threads with the best kernel build for this CPU.
#pragma once

#include "kernels/params.h"

namespace yz::kernels::cpu {

void run_attention(const AttentionParams& p);
// "avx512", "avx2" or "generic": the kernel build run_attention uses on this CPU.
const char* attention_isa();

}  // namespace yz::kernels::cpu
