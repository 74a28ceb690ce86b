// Python's random.Random, bit for bit: MT19937 seeded as CPython seeds it from an int, and the
// methods lm-evaluation-harness draws few-shot examples with (Random(seed).sample), so a seed
// picks the same shots here as in the harness.
#pragma once

#include <array>
#include <cstdint>
#include <vector>

namespace yz {

class PyRandom {
 public:
  // random.Random(seed) for an int seed: init_by_array over the 32-bit words of |seed|
  // (CPython Modules/_randommodule.c, random_seed / init_by_array).
  explicit PyRandom(uint64_t seed);

  uint32_t genrand_uint32();       // one tempered MT19937 output
  uint32_t getrandbits(int k);     // k in [0, 32]: the top k bits of one output
  uint64_t randbelow(uint64_t n);  // Random._randbelow_with_getrandbits, n >= 1
  // Random.sample(range(n), k): k distinct indices in [0, n) in draw order. Follows CPython's
  // two strategies (a shrinking pool when n is small, rejection with a set otherwise), which
  // consume the generator differently.
  std::vector<int64_t> sample(int64_t n, int64_t k);

 private:
  static constexpr int kN = 624;
  std::array<uint32_t, kN> mt_{};
  int index_ = kN;
};

}  // namespace yz
