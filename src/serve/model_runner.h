// Runs the model for one scheduler step: lays the scheduled tokens out as one ragged batch
// (ids, positions, cache slots, block tables), runs CausalLm::forward_paged over the paged KV
// cache and samples the next token of every request whose prompt is complete. Also sizes the
// KV pool the way vLLM does: what the device's memory holds after the weights and a profiled
// activation peak, times --gpu-memory-utilization (serving.md §1.4).
#pragma once

#include <torch/torch.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "model/causal_lm.h"
#include "model/paged_kv_cache.h"
#include "serve/sampler.h"
#include "serve/scheduler.h"

namespace yz::serve {

struct RunnerConfig {
  std::string model_dir;
  torch::Device device = torch::kCPU;
  torch::ScalarType dtype = torch::kFloat;
  int64_t block_size = 16;
  int64_t max_model_len = 0;           // 0: the model's max_position_embeddings
  int64_t max_num_batched_tokens = 8192;
  int64_t max_num_seqs = 256;
  double gpu_memory_utilization = 0.9;  // CUDA: fraction of device memory for weights + activations + KV
  int64_t kv_cache_bytes = 0;           // >0: KV pool size in bytes (CPU default: 4 GiB)
  int64_t num_blocks_override = 0;      // >0: exactly this many blocks (tests)
  bool cuda_graphs = true;              // CUDA: replay captured decode steps (--enforce-eager: off)
};

// How the KV pool was sized (the startup report).
struct KvPoolReport {
  int64_t num_blocks = 0, block_size = 0;
  int64_t bytes_per_token = 0;      // all layers, in the cache dtype
  int64_t pool_bytes = 0;
  int64_t weight_bytes = 0;         // model parameters on the device
  int64_t activation_peak_bytes = 0;  // profiled forward of max_num_batched_tokens (CUDA)
  int64_t non_torch_bytes = 0;      // CUDA context and other non-allocator memory (CUDA)
  int64_t graph_reserve_bytes = 0;  // set aside for the decode CUDA graphs (CUDA)
  int64_t graph_pool_bytes = 0;     // what their capture took
  int64_t graph_max_batch = 0;      // decode steps of up to this many sequences replay a graph
  int64_t device_total_bytes = 0;   // CUDA
  int64_t max_model_len = 0;
  int64_t tokens() const { return num_blocks * block_size; }
  // vLLM V1: num_blocks / blocks one max_model_len request needs.
  double max_concurrency() const;
};

class DecodeGraphs;

class ModelRunner {
 public:
  explicit ModelRunner(const RunnerConfig& config);
  ~ModelRunner();

  const ModelConfig& model_config() const { return lm_->config; }
  const KvPoolReport& pool() const { return report_; }
  const RunnerConfig& config() const { return config_; }

  // Computes the scheduled tokens and returns the sampled token of each request that samples,
  // in scheduled order; samplers[i] is the sampling state of the i-th of those requests.
  // logprobs: fill SampledToken::logprob; top_logprobs > 0: also `top` per sampling request.
  std::vector<SampledToken> execute(const SchedulerOutput& step, const std::vector<Sampler*>& samplers,
                                    bool logprobs = false, int64_t top_logprobs = 0,
                                    std::vector<std::vector<SampledToken>>* top = nullptr);

 private:
  void size_pool();
  // One forward over `tokens` dummy tokens split into sequences of at most max_model_len,
  // using a throwaway pool: the activation peak a step of that size reaches.
  void profile_forward(int64_t tokens);

  RunnerConfig config_;
  CausalLm lm_{nullptr};
  std::unique_ptr<PagedKvCache> cache_;
#ifdef YZ_WITH_CUDA
  std::unique_ptr<DecodeGraphs> graphs_;  // with cuda_graphs on a CUDA device
#endif
  KvPoolReport report_;
};

}  // namespace yz::serve
