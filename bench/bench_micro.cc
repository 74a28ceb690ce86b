// Micro-benchmarks (Google Benchmark) of the foundation's hot paths: safetensors header
// validation, checkpoint opening, tokenizer encode of a line. Run: build/bench/bench_micro.
// Paths are relative to the repository root (run it from there).
#include <benchmark/benchmark.h>

#include "tokenizer/tokenizer.h"
#include "util/safetensors.h"
#include "util/text_file.h"

namespace {

const char* kModel = "models/yz-qwen2-gqa-16m";

void BM_ParseHeader(benchmark::State& state) {
  auto file = yz::MappedFile::open(std::string(kModel) + "/model-00001-of-00003.safetensors");
  for (auto _ : state) {
    auto h = yz::parse_safetensors_header(file->data(), file->size(), "shard");
    benchmark::DoNotOptimize(h.tensors.size());
  }
}
BENCHMARK(BM_ParseHeader);

void BM_OpenShardedCheckpoint(benchmark::State& state) {
  for (auto _ : state) {
    yz::Checkpoint c(kModel);
    benchmark::DoNotOptimize(c.num_params());
  }
}
BENCHMARK(BM_OpenShardedCheckpoint);

void BM_EncodeLine(benchmark::State& state) {
  yz::tok::Tokenizer tk = yz::tok::Tokenizer::from_file(kModel);
  std::string text = yz::read_text_input("data/demo/wikitext2_test_head.txt");
  for (auto _ : state) benchmark::DoNotOptimize(tk.encode(text, false).size());
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * text.size());
}
BENCHMARK(BM_EncodeLine);

}  // namespace

BENCHMARK_MAIN();
