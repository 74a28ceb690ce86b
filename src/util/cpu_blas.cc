// OpenBLAS core re-selection (see cpu_blas.h). OpenBLAS is looked up with dlsym so that a build
// against another BLAS links and runs unchanged.
#include "util/cpu_blas.h"

#include <dlfcn.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <initializer_list>

namespace yz {

namespace {
// Kernel families that OpenBLAS falls back to for CPUs it does not recognise.
bool is_fallback_core(const char* name) {
  for (const char* f : {"Prescott", "Core2", "Penryn", "Dunnington", "Nehalem", "Atom", "Katmai",
                        "Coppermine", "Northwood", "Banias", "Unknown"})
    if (std::strcmp(name, f) == 0) return true;
  return false;
}

// The best OpenBLAS 0.3.21 kernel family this CPU can run, or nullptr.
const char* best_core() {
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
      __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq"))
    return "SkylakeX";
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return "Haswell";
  return nullptr;
}
}  // namespace

const char* openblas_core_name() {
  using CoreName = char* (*)();
  auto fn = reinterpret_cast<CoreName>(dlsym(RTLD_DEFAULT, "openblas_get_corename"));
  return fn ? fn() : "";
}

void ensure_openblas_core(char** argv) {
  if (std::getenv("OPENBLAS_CORETYPE") != nullptr) return;  // the user's (or our earlier) choice
  const char* current = openblas_core_name();
  if (current[0] == '\0' || !is_fallback_core(current)) return;
  const char* better = best_core();
  if (better == nullptr) return;
  setenv("OPENBLAS_CORETYPE", better, 1);
  execv("/proc/self/exe", argv);  // returns only on failure: run on with the slow kernels
}

}  // namespace yz
