// CPU attention driver: picks the kernel build for this CPU, splits the work into items
// (tokens × KV head) and runs them on libtorch's intra-op threads, longest first.
#include <ATen/Parallel.h>

#include <algorithm>
#include <atomic>
#include <vector>

#include "kernels/cpu/attention_kernel.h"
#include "kernels/cpu_attention.h"

namespace yz::kernels::cpu {

namespace {
AttentionFn pick_kernel() {
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
      __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") &&
      __builtin_cpu_supports("fma"))
    return attention_avx512;
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return attention_avx2;
  return attention_generic;
}

// Rows per work item: enough for the register blocks, few enough to spread over threads.
constexpr int64_t kTargetRows = 64;
}  // namespace

int64_t attention_scratch_floats(const AttentionParams& p, int64_t max_tokens) {
  const int64_t rows = (max_tokens * (p.heads / p.kv_heads) + 3) / 4 * 4, keys = 64;
  return rows * p.dk + p.dk * keys + rows * keys + rows * p.dv + keys * p.dv + 2 * rows;
}

const char* attention_isa() {
  const AttentionFn fn = pick_kernel();
  return fn == attention_avx512 ? "avx512" : fn == attention_avx2 ? "avx2" : "generic";
}

void run_attention(const AttentionParams& p) {
  static const AttentionFn kernel = pick_kernel();
  const int64_t group = p.heads / p.kv_heads;
  const int64_t tokens_per_item = std::max<int64_t>(1, kTargetRows / group);
  std::vector<AttentionWork> work;
  std::vector<int64_t> cost;
  for (int64_t s = 0; s < p.seqs; ++s) {
    const int64_t q_len = p.query_start ? p.query_start[s + 1] - p.query_start[s] : p.q_len;
    const int64_t kv_len = p.kv_lens ? p.kv_lens[s] : p.kv_len;
    for (int64_t g = 0; g < p.kv_heads; ++g)
      for (int64_t t0 = 0; t0 < q_len; t0 += tokens_per_item) {
        const int64_t t1 = std::min(q_len, t0 + tokens_per_item);
        work.push_back({s, g, t0, t1});
        cost.push_back((t1 - t0) * (kv_len - q_len + t1));  // keys the item visits
      }
  }
  std::vector<size_t> order(work.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return cost[a] > cost[b]; });
  const size_t elem = p.dtype == kDTypeF64 ? sizeof(double) : sizeof(float);
  const int64_t scratch_bytes = attention_scratch_floats(p, tokens_per_item) * elem;
  std::atomic<size_t> next{0};
  const int64_t threads = std::min<int64_t>(at::get_num_threads(), work.size());
  at::parallel_for(0, std::max<int64_t>(threads, 1), 1, [&](int64_t begin, int64_t end) {
    std::vector<double> scratch((scratch_bytes + sizeof(double) - 1) / sizeof(double));
    for (int64_t t = begin; t < end; ++t)
      for (size_t i = next++; i < order.size(); i = next++) kernel(p, work[order[i]], scratch.data());
  });
}

}  // namespace yz::kernels::cpu
