// main() of every test binary: GoogleTest's, after picking OpenBLAS's kernels for this CPU
// (util/cpu_blas.h) so that tests run at the speed users get.
#include <gtest/gtest.h>

#include "util/cpu_blas.h"

int main(int argc, char** argv) {
  yz::ensure_openblas_core(argv);
  testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
