// The model side of an engine step (see model_runner.h).
#include "serve/model_runner.h"

#include <algorithm>
#include <cmath>

#include "kernels/ops.h"
#include "serve/sampler.h"
#ifdef YZ_WITH_CUDA
#include "serve/decode_graphs.h"
#endif
#include "util/error.h"

namespace yz::serve {

namespace {
constexpr int64_t kDefaultCpuKvBytes = int64_t{4} << 30;  // as vLLM's CPU backend (4 GiB)

int64_t parameter_bytes(CausalLm& lm) {
  int64_t n = 0;
  for (const auto& p : lm->parameters()) n += p.numel() * p.element_size();
  return n;
}

// Host vectors to the device in ONE transfer (pinned memory, asynchronous on CUDA): a step's
// metadata would otherwise cost a synchronising copy per vector.
template <typename T>
std::vector<at::Tensor> upload(const std::vector<const std::vector<T>*>& parts, const torch::Device& d) {
  int64_t total = 0;
  for (const auto* p : parts) total += static_cast<int64_t>(p->size());
  const at::ScalarType type = sizeof(T) == 8 ? at::kLong : at::kInt;
  at::Tensor host = at::empty({std::max<int64_t>(total, 1)},
                              at::TensorOptions().dtype(type).pinned_memory(d.is_cuda()));
  T* dst = static_cast<T*>(host.data_ptr());
  for (const auto* p : parts) dst = std::copy(p->begin(), p->end(), dst);
  at::Tensor dev = d.is_cuda() ? host.to(d, /*non_blocking=*/true) : host;
  std::vector<at::Tensor> out;
  int64_t off = 0;
  for (const auto* p : parts) {
    out.push_back(dev.narrow(0, off, static_cast<int64_t>(p->size())));
    off += static_cast<int64_t>(p->size());
  }
  return out;
}
}  // namespace

double KvPoolReport::max_concurrency() const {
  const int64_t per_request = (max_model_len + block_size - 1) / block_size;
  return per_request > 0 ? static_cast<double>(num_blocks) / static_cast<double>(per_request) : 0;
}

ModelRunner::~ModelRunner() = default;

ModelRunner::ModelRunner(const RunnerConfig& c) : config_(c) {
  YZ_CHECK(c.block_size == 16 || c.block_size == 32 || c.block_size == 64,
           "--block-size must be 16, 32 or 64 (got ", c.block_size, ")");
  lm_ = load_causal_lm(c.model_dir, {c.device, c.dtype});
  lm_->set_mla_path(MlaPath::kAbsorbed);
  const ModelConfig& mc = lm_->config;
  if (config_.max_model_len <= 0) config_.max_model_len = mc.max_position_embeddings;
  YZ_CHECK(config_.max_model_len <= mc.max_position_embeddings, "--max-model-len ",
           config_.max_model_len, " exceeds the model's max_position_embeddings ",
           mc.max_position_embeddings, " (", c.model_dir, "/config.json)");
#ifndef YZ_WITH_CUDA
  config_.cuda_graphs = false;
#endif
  if (!config_.device.is_cuda()) config_.cuda_graphs = false;
  size_pool();
}

void ModelRunner::profile_forward(int64_t tokens) {
  const int64_t len = std::min(tokens, config_.max_model_len);
  const int64_t seqs = (tokens + len - 1) / len;
  const int64_t bs = config_.block_size;
  const int64_t blocks_per_seq = (len + bs - 1) / bs;
  PagedKvCache scratch(lm_->config, seqs * blocks_per_seq, bs, config_.dtype, config_.device);
  std::vector<int64_t> ids, positions, slots, rows;
  std::vector<int32_t> table, kv_lens, starts{0};
  for (int64_t s = 0; s < seqs; ++s) {
    const int64_t n = std::min(len, tokens - s * len);
    for (int64_t i = 0; i < n; ++i) {
      ids.push_back((s * 7919 + i * 104729) % lm_->config.vocab_size);
      positions.push_back(i);
      slots.push_back((s * blocks_per_seq + i / bs) * bs + i % bs);
    }
    for (int64_t b = 0; b < blocks_per_seq; ++b) table.push_back(static_cast<int32_t>(s * blocks_per_seq + b));
    kv_lens.push_back(static_cast<int32_t>(n));
    starts.push_back(starts.back() + static_cast<int32_t>(n));
  }
  // Logits for as many rows as a step can sample (a decode step of max_num_seqs requests), not
  // one per profiled sequence: at a 152k vocabulary 1,000 rows are 0.3 GB of bf16 logits.
  const int64_t sampled = std::min(tokens, config_.max_num_seqs);
  for (int64_t i = 0; i < sampled; ++i) rows.push_back(i * tokens / sampled);
  const torch::Device d = config_.device;
  std::vector<at::Tensor> i64 = upload<int64_t>({&ids, &positions, &slots, &rows}, d);
  std::vector<at::Tensor> i32 = upload<int32_t>({&table, &kv_lens, &starts}, d);
  PagedBatch batch;
  batch.cache = &scratch;
  batch.slot_mapping = i64[2];
  batch.seqs.block_tables = i32[0].view({seqs, blocks_per_seq});
  batch.seqs.kv_lens = i32[1];
  batch.seqs.query_start = i32[2];
  batch.seqs.kv_lens_host = kv_lens;
  batch.seqs.query_start_host = starts;
  batch.seqs.max_kv_len = batch.seqs.max_q_len = len;
  torch::NoGradGuard no_grad;
  const at::Tensor logits = lm_->forward_paged(i64[0], i64[1], batch, i64[3]);
  // Sampling's working set too: every row at temperature 1 with top-p and logprobs, the most a
  // step's sampler allocates (serve/sampler.cc works through its rows in bounded chunks).
  SamplingParams sp;
  sp.temperature = 1.0, sp.top_p = 0.9;
  std::vector<Sampler> owned(static_cast<size_t>(sampled), Sampler(sp));
  std::vector<Sampler*> samplers;
  for (Sampler& x : owned) samplers.push_back(&x);
  std::vector<std::vector<SampledToken>> top;
  (void)sample_rows(logits, samplers, /*logprobs=*/true, /*top_logprobs=*/20, &top);
}

void ModelRunner::size_pool() {
  const ModelConfig& mc = lm_->config;
  const int64_t bs = config_.block_size;
  const int64_t block_bytes = PagedKvCache::bytes_per_block(mc, bs, config_.dtype);
  report_.block_size = bs;
  report_.bytes_per_token = block_bytes / bs;
  report_.weight_bytes = parameter_bytes(lm_);
  report_.max_model_len = config_.max_model_len;
  int64_t num_blocks = 0;
  if (config_.num_blocks_override > 0) {
    num_blocks = config_.num_blocks_override;
  } else if (config_.device.is_cuda() && config_.kv_cache_bytes <= 0) {
    YZ_CHECK(config_.gpu_memory_utilization > 0 && config_.gpu_memory_utilization <= 1,
             "--gpu-memory-utilization must be in (0, 1], got ", config_.gpu_memory_utilization);
    const int dev = kernels::device_ordinal(config_.device);
    kernels::reset_device_peak(dev);
    const kernels::DeviceMemory before = kernels::device_memory(dev);
    profile_forward(config_.max_num_batched_tokens);
    const int64_t peak = kernels::device_peak_bytes(dev);
    const kernels::DeviceMemory after = kernels::device_memory(dev);
    report_.device_total_bytes = after.total;
    report_.activation_peak_bytes = std::max<int64_t>(0, peak - before.torch_allocated);
    // Memory in use that the caching allocator does not account for: CUDA context, cuBLAS
    // workspaces, ... (vLLM's non_torch_allocations).
    report_.non_torch_bytes = std::max<int64_t>(0, (after.total - after.free) - after.torch_reserved);
    // Decode graphs keep their activations in a pool of their own: about a decode batch's share
    // of the profiled peak, plus their logits, plus workspace slack.
    if (config_.cuda_graphs) {
      report_.graph_max_batch = std::min<int64_t>(config_.max_num_seqs, 256);
      report_.graph_reserve_bytes =
          report_.activation_peak_bytes * report_.graph_max_batch / config_.max_num_batched_tokens +
          2 * report_.graph_max_batch * mc.vocab_size * static_cast<int64_t>(c10::elementSize(config_.dtype)) +
          (int64_t{256} << 20);
    }
    const double budget = config_.gpu_memory_utilization * static_cast<double>(after.total);
    const double kv = budget - static_cast<double>(report_.weight_bytes + report_.activation_peak_bytes +
                                                   report_.non_torch_bytes + report_.graph_reserve_bytes);
    YZ_CHECK(kv > 0, "no memory left for the KV cache: ", config_.gpu_memory_utilization, " x ",
             after.total >> 20, " MiB device memory < weights ", report_.weight_bytes >> 20,
             " MiB + activations ", report_.activation_peak_bytes >> 20, " MiB + other ",
             report_.non_torch_bytes >> 20, " MiB; raise --gpu-memory-utilization or lower "
             "--max-num-batched-tokens");
    num_blocks = static_cast<int64_t>(kv) / block_bytes;
  } else {
    const int64_t bytes = config_.kv_cache_bytes > 0 ? config_.kv_cache_bytes : kDefaultCpuKvBytes;
    num_blocks = bytes / block_bytes;
  }
  const int64_t need = (config_.max_model_len + bs - 1) / bs;
  YZ_CHECK(num_blocks >= need, "the KV pool holds ", num_blocks, " blocks of ", bs, " tokens (",
           num_blocks * bs, " tokens, ", block_bytes, " bytes each block), fewer than one request of "
           "--max-model-len ", config_.max_model_len, " needs (", need, " blocks = ", need * block_bytes,
           " bytes); lower --max-model-len or give the cache more memory");
  report_.num_blocks = num_blocks;
  report_.pool_bytes = num_blocks * block_bytes;
  // With graphs, one more block outside the scheduler's pool: padding rows of a replayed batch
  // write and read it.
  cache_ = std::make_unique<PagedKvCache>(mc, num_blocks + (config_.cuda_graphs ? 1 : 0), bs,
                                          config_.dtype, config_.device);
#ifdef YZ_WITH_CUDA
  if (config_.cuda_graphs) {
    if (report_.graph_max_batch == 0) report_.graph_max_batch = std::min<int64_t>(config_.max_num_seqs, 256);
    graphs_ = std::make_unique<DecodeGraphs>(lm_, *cache_, static_cast<int32_t>(num_blocks),
                                             report_.graph_max_batch, config_.max_model_len);
    report_.graph_pool_bytes = graphs_->pool_bytes();
  }
#endif
}

std::vector<SampledToken> ModelRunner::execute(const SchedulerOutput& step,
                                               const std::vector<Sampler*>& samplers,
                                               bool logprobs, int64_t top_logprobs,
                                               std::vector<std::vector<SampledToken>>* top) {
  const int64_t bs = config_.block_size;
  std::vector<int64_t> ids, positions, slots, rows;
  std::vector<int32_t> kv_lens, starts{0};
  int64_t max_blocks = 1, max_q = 0, max_kv = 0;
  for (const ScheduledRequest& s : step.scheduled)
    max_blocks = std::max<int64_t>(max_blocks, s.request->blocks.size());
  std::vector<int32_t> table(step.scheduled.size() * max_blocks, 0);
  for (size_t i = 0; i < step.scheduled.size(); ++i) {
    const ScheduledRequest& s = step.scheduled[i];
    const Request& r = *s.request;
    for (int64_t t = s.start; t < s.start + s.num_tokens; ++t) {
      ids.push_back(r.token(t));
      positions.push_back(t);
      slots.push_back(static_cast<int64_t>(r.blocks[t / bs]) * bs + t % bs);
    }
    std::copy(r.blocks.begin(), r.blocks.end(), table.begin() + i * max_blocks);
    kv_lens.push_back(static_cast<int32_t>(s.start + s.num_tokens));
    starts.push_back(starts.back() + static_cast<int32_t>(s.num_tokens));
    if (s.samples) rows.push_back(starts.back() - 1);
    max_q = std::max(max_q, s.num_tokens);
    max_kv = std::max(max_kv, s.start + s.num_tokens);
  }
  YZ_ASSERT(rows.size() == samplers.size(), "one sampler per sampling request");
#ifdef YZ_WITH_CUDA
  // A pure decode step (one new token per request, every one sampling) replays a captured graph.
  if (graphs_ && max_q == 1 && rows.size() == step.scheduled.size() &&
      static_cast<int64_t>(rows.size()) <= graphs_->max_batch()) {
    torch::NoGradGuard no_grad;
    torch::Tensor logits = graphs_->run(ids, positions, slots, table, max_blocks, kv_lens);
    return sample_rows(logits, samplers, logprobs, top_logprobs, top);
  }
#endif
  const torch::Device d = config_.device;
  std::vector<at::Tensor> i64 = upload<int64_t>({&ids, &positions, &slots, &rows}, d);
  std::vector<at::Tensor> i32 = upload<int32_t>({&table, &kv_lens, &starts}, d);
  PagedBatch batch;
  batch.cache = cache_.get();
  batch.slot_mapping = i64[2];
  batch.seqs.block_tables = i32[0].view({static_cast<int64_t>(step.scheduled.size()), max_blocks});
  batch.seqs.kv_lens = i32[1];
  batch.seqs.query_start = i32[2];
  batch.seqs.kv_lens_host = std::move(kv_lens);
  batch.seqs.query_start_host = std::move(starts);
  batch.seqs.max_kv_len = max_kv;
  batch.seqs.max_q_len = max_q;
  torch::NoGradGuard no_grad;
  torch::Tensor logits = lm_->forward_paged(i64[0], i64[1], batch, i64[3]);
  if (rows.empty()) return {};
  return sample_rows(logits, samplers, logprobs, top_logprobs, top);
}

}  // namespace yz::serve
