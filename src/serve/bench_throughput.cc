// `youzhi bench throughput` (see bench_throughput.h).
#include "serve/bench_throughput.h"

#include <chrono>
#include <random>

#include "kernels/ops.h"
#include "util/error.h"
#include "util/progress.h"

namespace yz::serve {

nlohmann::ordered_json run_throughput(EngineConfig config, const ThroughputRequest& r) {
  YZ_CHECK(r.input_len > 0 && r.output_len > 0 && r.num_prompts > 0,
           "--input-len, --output-len and --num-prompts must be positive");
  if (config.runner.max_model_len <= 0) config.runner.max_model_len = r.input_len + r.output_len;
  YZ_CHECK(r.input_len + r.output_len <= config.runner.max_model_len, "--input-len ", r.input_len,
           " + --output-len ", r.output_len, " exceed --max-model-len ", config.runner.max_model_len);
  Engine engine(config);
  const ModelConfig& mc = engine.model_config();
  // Random token ids, as vLLM's RandomDataset (uniform over the vocabulary, no special care).
  std::mt19937_64 rng(r.seed);
  std::uniform_int_distribution<int32_t> token(0, static_cast<int32_t>(mc.vocab_size - 1));
  GenerationParams gp;
  gp.max_tokens = r.output_len;
  gp.ignore_eos = true;
  gp.sampling.temperature = r.temperature;
  Progress bar("bench", r.num_prompts * r.output_len, "tok");
  const auto t0 = std::chrono::steady_clock::now();
  for (int64_t i = 0; i < r.num_prompts; ++i) {
    std::vector<int32_t> prompt(r.input_len);
    for (int32_t& t : prompt) t = token(rng);
    gp.sampling.seed = r.seed * 1000003 + static_cast<uint64_t>(i);
    engine.add_request("bench-" + std::to_string(i), std::move(prompt), gp);
  }
  int64_t finished = 0, steps = 0;
  double running_sum = 0;
  while (engine.has_unfinished()) {
    std::vector<StepOutput> out = engine.step();
    int64_t produced = 0;
    for (const StepOutput& o : out) {
      produced += static_cast<int64_t>(o.tokens.size());
      finished += o.finished;
    }
    bar.add(produced);
    ++steps;
    running_sum += static_cast<double>(engine.stats().running);
  }
  const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  bar.finish();
  YZ_ASSERT(finished == r.num_prompts, "benchmark finished ", finished, " of ", r.num_prompts);
  const EngineStats st = engine.stats();
  const KvPoolReport& pool = engine.pool();
  const double total_tokens = static_cast<double>(r.num_prompts * (r.input_len + r.output_len));
  nlohmann::ordered_json j;
  j["model"] = config.runner.model_dir;
  j["family"] = family_name(mc.family);
  j["kv_elements_per_token"] = mc.kv_elements_per_token();
  j["input_len"] = r.input_len;
  j["output_len"] = r.output_len;
  j["temperature"] = r.temperature;
  j["num_requests"] = r.num_prompts;
  j["elapsed_time"] = elapsed;
  j["requests_per_second"] = r.num_prompts / elapsed;
  j["tokens_per_second"] = total_tokens / elapsed;
  j["output_tokens_per_second"] = static_cast<double>(r.num_prompts * r.output_len) / elapsed;
  j["total_num_tokens"] = static_cast<int64_t>(total_tokens);
  j["max_model_len"] = pool.max_model_len;
  j["block_size"] = pool.block_size;
  j["kv_tokens"] = pool.tokens();
  j["kv_pool_bytes"] = pool.pool_bytes;
  j["kv_bytes_per_token"] = pool.bytes_per_token;
  j["weight_bytes"] = pool.weight_bytes;
  j["activation_peak_bytes"] = pool.activation_peak_bytes;
  if (config.runner.device.is_cuda()) {  // what the caching allocator took, startup included
    const int dev = kernels::device_ordinal(config.runner.device);
    j["device_reserved_peak_bytes"] = kernels::device_memory(dev).torch_reserved_peak;
  }
  j["max_concurrency"] = pool.max_concurrency();
  j["peak_running"] = st.peak_running;
  j["mean_running"] = steps > 0 ? running_sum / steps : 0.0;
  j["preemptions"] = st.preemptions;
  j["steps"] = st.steps;
  j["max_num_seqs"] = config.runner.max_num_seqs;
  j["max_num_batched_tokens"] = config.runner.max_num_batched_tokens;
  return j;
}

}  // namespace yz::serve
