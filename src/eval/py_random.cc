// CPython's Mersenne Twister and Random.sample (see py_random.h). References: CPython
// Modules/_randommodule.c (init_genrand, init_by_array, genrand_uint32, random_seed,
// getrandbits) and Lib/random.py (_randbelow_with_getrandbits, sample).
#include "eval/py_random.h"

#include <cmath>
#include <unordered_set>

#include "util/error.h"

namespace yz {

PyRandom::PyRandom(uint64_t seed) {
  // random_seed: the key is |seed| split into 32-bit words, least significant first; 0 -> [0].
  std::vector<uint32_t> key;
  for (uint64_t s = seed; s != 0; s >>= 32) key.push_back(static_cast<uint32_t>(s));
  if (key.empty()) key.push_back(0);
  // init_genrand(19650218)
  mt_[0] = 19650218u;
  for (int i = 1; i < kN; ++i)
    mt_[i] = 1812433253u * (mt_[i - 1] ^ (mt_[i - 1] >> 30)) + static_cast<uint32_t>(i);
  // init_by_array(key)
  const int n_key = static_cast<int>(key.size());
  int i = 1, j = 0;
  for (int k = std::max(kN, n_key); k > 0; --k) {
    mt_[i] = (mt_[i] ^ ((mt_[i - 1] ^ (mt_[i - 1] >> 30)) * 1664525u)) + key[j] +
             static_cast<uint32_t>(j);
    ++i;
    ++j;
    if (i >= kN) {
      mt_[0] = mt_[kN - 1];
      i = 1;
    }
    if (j >= n_key) j = 0;
  }
  for (int k = kN - 1; k > 0; --k) {
    mt_[i] =
        (mt_[i] ^ ((mt_[i - 1] ^ (mt_[i - 1] >> 30)) * 1566083941u)) - static_cast<uint32_t>(i);
    ++i;
    if (i >= kN) {
      mt_[0] = mt_[kN - 1];
      i = 1;
    }
  }
  mt_[0] = 0x80000000u;  // MSB is 1, assuring a non-zero initial array
  index_ = kN;
}

uint32_t PyRandom::genrand_uint32() {
  constexpr uint32_t kMatrixA = 0x9908b0dfu, kUpper = 0x80000000u, kLower = 0x7fffffffu;
  if (index_ >= kN) {
    for (int k = 0; k < kN; ++k) {
      const uint32_t y = (mt_[k] & kUpper) | (mt_[(k + 1) % kN] & kLower);
      mt_[k] = mt_[(k + 397) % kN] ^ (y >> 1) ^ ((y & 1u) ? kMatrixA : 0u);
    }
    index_ = 0;
  }
  uint32_t y = mt_[index_++];
  y ^= (y >> 11);
  y ^= (y << 7) & 0x9d2c5680u;
  y ^= (y << 15) & 0xefc60000u;
  y ^= (y >> 18);
  return y;
}

uint32_t PyRandom::getrandbits(int k) {
  YZ_ASSERT(k >= 0 && k <= 32, "getrandbits supports 0..32 bits, got ", k);
  if (k == 0) return 0;
  return genrand_uint32() >> (32 - k);
}

uint64_t PyRandom::randbelow(uint64_t n) {
  YZ_ASSERT(n >= 1 && n <= (uint64_t{1} << 32), "randbelow(", n, ") is outside 1..2^32");
  int bits = 0;  // n.bit_length()
  for (uint64_t v = n; v != 0; v >>= 1) ++bits;
  uint64_t r = getrandbits(bits);
  while (r >= n) r = getrandbits(bits);
  return r;
}

std::vector<int64_t> PyRandom::sample(int64_t n, int64_t k) {
  YZ_CHECK(k >= 0 && k <= n, "cannot sample ", k, " items from a population of ", n);
  std::vector<int64_t> result(k);
  // A pool of n indices is cheaper than a set of k once n <= setsize (random.py's heuristic).
  int64_t setsize = 21;
  if (k > 5)
    setsize += static_cast<int64_t>(
        std::pow(4.0, std::ceil(std::log(static_cast<double>(k * 3)) / std::log(4.0))));
  if (n <= setsize) {
    std::vector<int64_t> pool(n);
    for (int64_t i = 0; i < n; ++i) pool[i] = i;
    for (int64_t i = 0; i < k; ++i) {
      const int64_t j = static_cast<int64_t>(randbelow(static_cast<uint64_t>(n - i)));
      result[i] = pool[j];
      pool[j] = pool[n - i - 1];  // move the non-selected item into the vacancy
    }
  } else {
    std::unordered_set<int64_t> selected;
    for (int64_t i = 0; i < k; ++i) {
      int64_t j = static_cast<int64_t>(randbelow(static_cast<uint64_t>(n)));
      while (selected.count(j)) j = static_cast<int64_t>(randbelow(static_cast<uint64_t>(n)));
      selected.insert(j);
      result[i] = j;
    }
  }
  return result;
}

}  // namespace yz
