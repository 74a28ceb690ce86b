// OpenBLAS kernel selection for this CPU. Debian 12's OpenBLAS 0.3.21 picks its kernels from the
// CPU model number and does not know recent Xeons (Sapphire/Emerald Rapids, family 6 model 143/207):
// it falls back to its Prescott (SSE3) kernels, 5x slower float32 GEMMs on an AVX-512 machine
// (measured here: 12 vs 63 GFLOP/s per core). The choice is made when the library loads, before
// main(), from OPENBLAS_CORETYPE; so a program that finds a fallback core on a CPU with AVX-512
// or AVX2 sets that variable to the matching kernel family and re-executes itself once.
#pragma once

namespace yz {

// Call first thing in main(). Returns normally when nothing needs to change (OpenBLAS absent,
// already on a matching core, OPENBLAS_CORETYPE set by the user, or the re-exec failed); does not
// return when it re-executes.
void ensure_openblas_core(char** argv);

// The core OpenBLAS runs on ("SkylakeX", "Haswell", ...), or "" when OpenBLAS is not loaded.
const char* openblas_core_name();

}  // namespace yz
