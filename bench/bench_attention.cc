// Bandwidth of the paged attention kernels on the GPU (issue #14's kernel goals): decode steps
// (one new token per sequence) of absorbed MLA (one shared head of r + d_r, values its first r
// columns), of a heterogeneous adaptive plan (a different r, d_r per layer, all layers of one
// step timed together) and of GQA. Bytes = cache rows read (every sequence's rows once per KV
// head) + queries + outputs; GB/s is bytes over the median of CUDA-event-timed launches, and is
// set against the device-to-device copy bandwidth measured in the same run (bytes read + written)
// and the datasheet peak. Usage: bench_attention OUT.json
#include <ATen/ATen.h>
#include <ATen/cuda/CUDAContext.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>
#include <nlohmann/json.hpp>
#include <numeric>
#include <random>
#include <vector>

#include "kernels/attention.h"
#include "util/cpu_blas.h"
#include "util/fs.h"

namespace {

constexpr double kDatasheetBytesPerS = 4.8e12;  // H200 SXM HBM3e

double median_ms(const std::function<void()>& fn, int reps = 30) {
  for (int i = 0; i < 3; ++i) fn();
  std::vector<float> ms;
  cudaEvent_t a, b;
  cudaEventCreate(&a);
  cudaEventCreate(&b);
  for (int i = 0; i < reps; ++i) {
    cudaEventRecord(a, at::cuda::getCurrentCUDAStream());
    fn();
    cudaEventRecord(b, at::cuda::getCurrentCUDAStream());
    cudaEventSynchronize(b);
    float t = 0;
    cudaEventElapsedTime(&t, a, b);
    ms.push_back(t);
  }
  cudaEventDestroy(a);
  cudaEventDestroy(b);
  std::sort(ms.begin(), ms.end());
  return ms[ms.size() / 2];
}

struct Layer {  // one attention call of a decode step
  at::Tensor q, k, v;
  yz::kernels::PagedSeqs seqs;
  double scale;
  double bytes;
};

// A decode batch of `batch` sequences of `ctx` cached tokens, blocks shuffled over the pool.
Layer make_layer(int64_t batch, int64_t ctx, int64_t hq, int64_t hk, int64_t dk, int64_t dv, bool mla,
                 int64_t block, std::mt19937& rng) {
  Layer L;
  const int64_t per_seq = (ctx + block - 1) / block, nb = batch * per_seq;
  std::vector<int32_t> ids(nb);
  std::iota(ids.begin(), ids.end(), 0);
  std::shuffle(ids.begin(), ids.end(), rng);
  auto bf16 = at::TensorOptions().dtype(at::kBFloat16).device(at::kCUDA);
  if (mla) {
    L.k = at::randn({nb, 1, block, dk}, bf16);
    L.v = L.k.narrow(-1, 0, dv);
  } else {
    L.k = at::randn({nb, hk, block, dk}, bf16);
    L.v = at::randn({nb, hk, block, dv}, bf16);
  }
  L.q = at::randn({hq, batch, dk}, bf16);
  L.seqs.block_tables = at::tensor(ids, at::kInt).view({batch, per_seq}).to(at::kCUDA);
  L.seqs.kv_lens_host.assign(batch, static_cast<int32_t>(ctx));
  for (int64_t i = 0; i <= batch; ++i) L.seqs.query_start_host.push_back(static_cast<int32_t>(i));
  L.seqs.kv_lens = at::tensor(L.seqs.kv_lens_host, at::kInt).to(at::kCUDA);
  L.seqs.query_start = at::tensor(L.seqs.query_start_host, at::kInt).to(at::kCUDA);
  L.seqs.max_kv_len = ctx;
  L.seqs.max_q_len = 1;
  L.scale = 1.0 / std::sqrt(static_cast<double>(dk));
  const double row_bytes = mla ? dk * 2.0 : hk * (dk + dv) * 2.0;  // cache bytes per token
  L.bytes = batch * ctx * row_bytes + batch * hq * (dk + dv) * 2.0;
  return L;
}

double copy_bandwidth() {
  at::Tensor a = at::empty({int64_t{1} << 31}, at::TensorOptions().dtype(at::kByte).device(at::kCUDA));
  at::Tensor b = at::empty_like(a);
  a.fill_(1);
  const double ms = median_ms([&] { b.copy_(a); }, 10);
  return 2.0 * a.numel() / (ms * 1e-3);
}

}  // namespace

int main(int argc, char** argv) {
  yz::ensure_openblas_core(argv);
  if (argc < 2) {
    std::fprintf(stderr, "usage: bench_attention OUT.json\n");
    return 2;
  }
  std::mt19937 rng(1);
  at::manual_seed(1);
  const double copy = copy_bandwidth();
  std::printf("device copy bandwidth: %.0f GB/s (read + write); datasheet %.0f GB/s\n", copy / 1e9,
              kDatasheetBytesPerS / 1e9);
  nlohmann::ordered_json rows = nlohmann::ordered_json::array();
  auto report = [&](const std::string& kind, const std::string& shape, int64_t batch, int64_t ctx,
                    double bytes, double ms) {
    const double bw = bytes / (ms * 1e-3);
    std::printf("%-6s %-26s batch %4lld ctx %5lld  %8.3f ms  %7.0f GB/s  %5.1f%% of copy  %5.1f%% of peak\n",
                kind.c_str(), shape.c_str(), static_cast<long long>(batch), static_cast<long long>(ctx), ms,
                bw / 1e9, 100 * bw / copy, 100 * bw / kDatasheetBytesPerS);
    rows.push_back({{"kind", kind}, {"shape", shape}, {"batch", batch}, {"ctx", ctx}, {"ms", ms},
                    {"bytes", bytes}, {"gb_s", bw / 1e9}, {"pct_copy", 100 * bw / copy},
                    {"pct_datasheet", 100 * bw / kDatasheetBytesPerS}});
  };
  // Uniform MLA, Qwen2.5-7B-shaped (h = 28, r = 512, d_r = 64), and GQA 28 q / 4 kv heads.
  for (int64_t block : {64, 16})
    for (int64_t ctx : {2048, 4096})
      for (int64_t batch : {1, 8, 32, 64, 128}) {
        Layer m = make_layer(batch, ctx, 28, 1, 576, 512, true, block, rng);
        report("mla", "h28 r512 dr64 bs" + std::to_string(block), batch, ctx, m.bytes,
               median_ms([&] { yz::kernels::paged_attention(m.q, m.k, m.v, m.seqs, m.scale); }));
        Layer g = make_layer(batch, ctx, 28, 4, 128, 128, false, block, rng);
        report("gqa", "h28 kv4 d128 bs" + std::to_string(block), batch, ctx, g.bytes,
               median_ms([&] { yz::kernels::paged_attention(g.q, g.k, g.v, g.seqs, g.scale); }));
      }
  // 14B-shaped MLA (h = 40).
  for (int64_t batch : {8, 64}) {
    Layer m = make_layer(batch, 4096, 40, 1, 576, 512, true, 64, rng);
    report("mla", "h40 r512 dr64 bs64", batch, 4096, m.bytes,
           median_ms([&] { yz::kernels::paged_attention(m.q, m.k, m.v, m.seqs, m.scale); }));
  }
  // A heterogeneous adaptive plan at about a third of Qwen2.5-7B's GQA cache (mean r + d_r ≈
  // 341 of 1024 per layer): every layer's call of one decode step, timed together.
  const std::vector<std::pair<int64_t, int64_t>> plan = {
      {256, 64}, {320, 32}, {192, 64}, {384, 64}, {256, 32}, {320, 64}, {224, 32}};
  for (int64_t batch : {8, 64}) {
    std::vector<Layer> layers;
    double bytes = 0;
    for (int64_t l = 0; l < 28; ++l) {
      const auto [r, dr] = plan[l % plan.size()];
      layers.push_back(make_layer(batch, 4096, 28, 1, r + dr, r, true, 64, rng));
      bytes += layers.back().bytes;
    }
    report("adapt", "h28 per-layer r,dr (28 layers)", batch, 4096, bytes, median_ms([&] {
             for (Layer& L : layers) yz::kernels::paged_attention(L.q, L.k, L.v, L.seqs, L.scale);
           }, 10));
  }
  nlohmann::ordered_json out = {{"device", at::cuda::getCurrentDeviceProperties()->name},
                                {"copy_gb_s", copy / 1e9}, {"datasheet_gb_s", kDatasheetBytesPerS / 1e9},
                                {"rows", rows}};
  yz::write_file_atomic(argv[1], out.dump(2) + "\n");
  return 0;
}
