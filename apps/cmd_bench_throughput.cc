// `youzhi bench throughput`: vLLM's offline throughput benchmark on the serving engine, one model
// or two side by side (--compare), with the KV capacity each reaches (serve/bench_throughput.h).
#include <cstdio>

#include "apps/commands.h"
#include "model/causal_lm.h"
#include "serve/bench_throughput.h"
#include "util/error.h"
#include "util/fs.h"

namespace yz::apps {

namespace {
void print_result(const nlohmann::ordered_json& j) {
  std::printf("== %s (%s, %lld KV elements/token)\n", j["model"].get<std::string>().c_str(),
              j["family"].get<std::string>().c_str(), static_cast<long long>(j["kv_elements_per_token"]));
  std::printf("KV cache size: %lld tokens\n", static_cast<long long>(j["kv_tokens"]));
  std::printf("Maximum concurrency for %lld tokens per request: %.2fx\n",
              static_cast<long long>(j["max_model_len"]), j["max_concurrency"].get<double>());
  std::printf("Throughput: %.2f requests/s, %.2f total tokens/s, %.2f output tokens/s\n",
              j["requests_per_second"].get<double>(), j["tokens_per_second"].get<double>(),
              j["output_tokens_per_second"].get<double>());
  std::printf("Total num prompt tokens:  %lld\nTotal num output tokens:  %lld\n",
              static_cast<long long>(j["num_requests"].get<int64_t>() * j["input_len"].get<int64_t>()),
              static_cast<long long>(j["num_requests"].get<int64_t>() * j["output_len"].get<int64_t>()));
  std::printf("Running sequences: peak %lld, mean %.1f; preemptions %lld\n",
              static_cast<long long>(j["peak_running"]), j["mean_running"].get<double>(),
              static_cast<long long>(j["preemptions"]));
}
}  // namespace

Command add_bench_throughput(CLI::App& bench) {
  CLI::App* app = bench.add_subcommand(
      "throughput", "vLLM's bench throughput on the serving engine: random prompts, all at once");
  struct Opts {
    std::string model, compare, device = "cpu", dtype, out;
    serve::ThroughputRequest req;
    serve::EngineConfig engine;
    double kv_cache_gib = 0;
    bool json = false, overwrite = false, no_prefix_caching = false, enforce_eager = false;
  };
  auto o = std::make_shared<Opts>();
  o->engine.runner.max_num_seqs = 0;
  app->add_option("MODEL", o->model, "Model directory")->required();
  app->add_option("--compare", o->compare, "A second model to run the same benchmark on (e.g. the GQA original)");
  app->add_option("--input-len", o->req.input_len, "Prompt tokens per request");
  app->add_option("--output-len", o->req.output_len, "Generated tokens per request");
  app->add_option("--num-prompts", o->req.num_prompts, "Requests");
  app->add_option("--seed", o->req.seed, "Seed of the random prompts and sampling");
  app->add_option("--temperature", o->req.temperature, "Sampling temperature (default 0: greedy)");
  app->add_option("--max-model-len", o->engine.runner.max_model_len,
                  "Tokens per request at most (default input + output)");
  app->add_option("--gpu-memory-utilization", o->engine.runner.gpu_memory_utilization,
                  "Fraction of GPU memory for weights, activations and KV cache");
  app->add_option("--kv-cache-memory", o->kv_cache_gib, "KV pool size in GiB (CPU default 4)");
  app->add_option("--block-size", o->engine.runner.block_size, "Tokens per KV block (16, 32, 64)");
  app->add_option("--max-num-seqs", o->engine.runner.max_num_seqs,
                  "Running requests at most (default: all prompts, so the KV pool is the limit)");
  app->add_option("--max-num-batched-tokens", o->engine.runner.max_num_batched_tokens, "Tokens per step at most");
  app->add_flag("--no-prefix-caching", o->no_prefix_caching, "Disable prefix caching");
  app->add_flag("--enforce-eager", o->enforce_eager, "No CUDA graphs for decode steps");
  app->add_option("--device", o->device, "cpu or cuda[:N]");
  app->add_option("--dtype", o->dtype, "Weights and KV cache: float32, bfloat16 (default: bf16 on CUDA)");
  app->add_option("--out", o->out, "Write the results as JSON");
  app->add_flag("--overwrite", o->overwrite, "Replace an existing --out file");
  app->add_flag("--json", o->json, "Print one JSON object");
  return [o, app]() {
    YZ_CHECK(o->out.empty() || o->overwrite || !fs::exists(o->out), "output ", o->out,
             " already exists; pass --overwrite to replace it");
    serve::EngineConfig ec = o->engine;
    ec.runner.device = parse_device(o->device);
    ec.runner.dtype = parse_dtype_name(o->dtype.empty() ? (ec.runner.device.is_cuda() ? "bfloat16" : "float32")
                                                        : o->dtype);
    ec.runner.kv_cache_bytes = static_cast<int64_t>(o->kv_cache_gib * (int64_t{1} << 30));
    if (ec.runner.max_num_seqs <= 0) ec.runner.max_num_seqs = o->req.num_prompts;
    ec.enable_prefix_caching = !o->no_prefix_caching;
    ec.runner.cuda_graphs = !o->enforce_eager;
    serve::ThroughputRequest req = o->req;
    nlohmann::ordered_json results = nlohmann::ordered_json::array();
    for (const std::string& m : {o->model, o->compare}) {
      if (m.empty()) continue;
      ec.runner.model_dir = m;
      results.push_back(serve::run_throughput(ec, req));
      if (!o->json) print_result(results.back());
    }
    nlohmann::ordered_json j = {{"benchmark", "throughput"}, {"results", results}};
    if (results.size() == 2) {
      const auto& a = results[0];
      const auto& b = results[1];
      j["ratio"] = {{"output_tokens_per_second", a["output_tokens_per_second"].get<double>() /
                                                    b["output_tokens_per_second"].get<double>()},
                    {"max_concurrency", a["max_concurrency"].get<double>() / b["max_concurrency"].get<double>()},
                    {"peak_running", a["peak_running"].get<double>() / b["peak_running"].get<double>()},
                    {"kv_bytes_per_token", a["kv_bytes_per_token"].get<double>() / b["kv_bytes_per_token"].get<double>()}};
      if (!o->json)
        std::printf("== %s vs %s: output tokens/s %.2fx, max concurrency %.2fx, peak running %.2fx\n",
                    o->model.c_str(), o->compare.c_str(), j["ratio"]["output_tokens_per_second"].get<double>(),
                    j["ratio"]["max_concurrency"].get<double>(), j["ratio"]["peak_running"].get<double>());
    }
    if (!o->out.empty()) write_file_atomic(o->out, j.dump(2) + "\n");
    if (o->json) std::printf("%s\n", j.dump().c_str());
    return 0;
  };
}

}  // namespace yz::apps
