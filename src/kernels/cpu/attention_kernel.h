// The CPU attention kernel's per-ISA entry points (see AttentionParams in kernels/params.h).
// attention_impl.h is compiled once per instruction set (attention_avx512.cc, _avx2.cc,
// _generic.cc) and cpu_attention.cc picks one at run time, as ATen's CPU_CAPABILITY builds do:
// those translation units include no torch or standard-library headers with inline functions,
// so no AVX-512 copy of a shared inline function can reach a CPU without it.
#pragma once

#include <cstdint>

#include "kernels/params.h"

namespace yz::kernels::cpu {

// One unit of parallel work: tokens [t0, t1) of sequence `seq`, all query heads of KV head `g`.
struct AttentionWork {
  int64_t seq, g, t0, t1;
};

// Floats of scratch one work item needs (per thread).
int64_t attention_scratch_floats(const AttentionParams& p, int64_t max_tokens);

using AttentionFn = void (*)(const AttentionParams& p, const AttentionWork& w, void* scratch);
void attention_avx512(const AttentionParams& p, const AttentionWork& w, void* scratch);
void attention_avx2(const AttentionParams& p, const AttentionWork& w, void* scratch);
void attention_generic(const AttentionParams& p, const AttentionWork& w, void* scratch);

}  // namespace yz::kernels::cpu
