// The sampling knobs of one generation (torch-free, so that the serving front end and its
// request parser can carry them without libtorch headers). model/sampling.h implements them.
#pragma once

#include <cstdint>

namespace yz {

struct SamplingParams {
  double temperature = 0.0;  // 0 = greedy
  double top_p = 1.0;        // keep the smallest set of top tokens whose mass reaches top_p
  int64_t top_k = 0;         // 0 = no limit
  uint64_t seed = 0;
};

}  // namespace yz
