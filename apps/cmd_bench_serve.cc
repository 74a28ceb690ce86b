// `youzhi bench serve`: vLLM's online benchmark against any OpenAI-compatible server
// (serve/bench_serve.h); prints vLLM's result block, or one JSON object with --json.
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <sstream>

#include "apps/commands.h"
#include "serve/bench_serve.h"
#include "util/error.h"
#include "util/fs.h"

namespace yz::apps {

namespace {

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::stringstream in(s);
  for (std::string part; std::getline(in, part, sep);)
    if (!part.empty()) out.push_back(part);
  return out;
}

double parse_number(const std::string& s, const std::string& flag) {
  if (s == "inf") return std::numeric_limits<double>::infinity();
  char* end = nullptr;
  const double v = std::strtod(s.c_str(), &end);
  if (end == s.c_str() || *end != '\0') YZ_THROW(ErrorKind::kUsage, flag, " '", s, "' is not a number");
  return v;
}

}  // namespace

Command add_bench_serve(CLI::App& bench) {
  CLI::App* app = bench.add_subcommand(
      "serve", "vLLM's online serving benchmark against any OpenAI-compatible server (HTTP + SSE)");
  struct Opts {
    serve::BenchServeConfig c;
    std::string rate = "inf", percentile_metrics = "ttft,tpot,itl,e2el", percentiles = "99", out;
    std::vector<std::string> goodput;
    bool json = false, overwrite = false;
  };
  auto o = std::make_shared<Opts>();
  app->add_option("--base-url", o->c.base_url, "Server URL, e.g. http://127.0.0.1:8000")->required();
  app->add_option("--endpoint", o->c.endpoint, "/v1/completions or /v1/chat/completions");
  app->add_option("--model", o->c.model, "Model name (default: the server's first model)");
  app->add_option("--api-key", o->c.api_key, "Bearer token (default: $OPENAI_API_KEY)");
  app->add_option("--dataset", o->c.dataset, "random, or a .jsonl file of {\"prompt\"} / {\"messages\"} lines");
  app->add_option("--tokenizer", o->c.tokenizer,
                  "tokenizer.json or model directory (random prompts; default: the server's model root if local)");
  app->add_option("--input-len", o->c.input_len, "Random prompts: tokens per prompt");
  app->add_option("--output-len", o->c.output_len, "Tokens to generate per request (max_tokens)");
  app->add_option("--num-prompts", o->c.num_prompts, "Requests to send");
  app->add_option("--request-rate", o->rate, "Requests per second, or inf (all at once)");
  app->add_option("--burstiness", o->c.burstiness, "1 = Poisson arrivals; gamma-distributed gaps otherwise");
  app->add_option("--max-concurrency", o->c.max_concurrency, "Requests in flight at most (0 = no limit)");
  app->add_flag("--ignore-eos", o->c.ignore_eos, "Ask the server to generate exactly --output-len tokens");
  app->add_option("--temperature", o->c.temperature, "Sampling temperature, sent with every request (vllm bench serve: greedy unless set)");
  app->add_option("--seed", o->c.seed, "Seed of the prompts and the arrival times");
  app->add_option("--percentile-metrics", o->percentile_metrics, "Metrics to report: ttft,tpot,itl,e2el");
  app->add_option("--metric-percentiles", o->percentiles, "Percentiles to report, e.g. 50,90,99");
  app->add_option("--goodput", o->goodput, "SLOs as KEY:MS (ttft, tpot, e2el), e.g. --goodput ttft:500 tpot:50");
  app->add_option("--out", o->out, "Write the result JSON here");
  app->add_flag("--overwrite", o->overwrite, "Replace an existing --out file");
  app->add_flag("--json", o->json, "Print one JSON object instead of the result block");
  return [o]() {
    YZ_CHECK(o->out.empty() || o->overwrite || !fs::exists(o->out), "output ", o->out,
             " already exists; pass --overwrite to replace it");
    serve::BenchServeConfig c = o->c;
    c.request_rate = parse_number(o->rate, "--request-rate");
    c.percentile_metrics = split(o->percentile_metrics, ',');
    for (const std::string& m : c.percentile_metrics)
      if (m != "ttft" && m != "tpot" && m != "itl" && m != "e2el")
        YZ_THROW(ErrorKind::kUsage, "--percentile-metrics: unknown metric '", m, "' (ttft, tpot, itl, e2el)");
    c.percentiles.clear();
    for (const std::string& p : split(o->percentiles, ',')) {
      const double v = parse_number(p, "--metric-percentiles");
      if (!(v >= 0 && v <= 100)) YZ_THROW(ErrorKind::kUsage, "--metric-percentiles: ", p, " is not in [0, 100]");
      c.percentiles.push_back(v);
    }
    for (const std::string& g : o->goodput) {
      const size_t colon = g.find(':');
      if (colon == std::string::npos)
        YZ_THROW(ErrorKind::kUsage, "--goodput '", g, "': expected KEY:VALUE with VALUE in milliseconds");
      c.goodput[g.substr(0, colon)] = parse_number(g.substr(colon + 1), "--goodput");
    }
    if (c.api_key.empty())
      if (const char* k = std::getenv("OPENAI_API_KEY")) c.api_key = k;
    c.verbose = !o->json;
    nlohmann::ordered_json r = serve::run_bench_serve(c);
    if (!o->out.empty()) write_file_atomic(o->out, r.dump(2) + "\n");
    if (o->json)
      std::printf("%s\n", r.dump().c_str());
    else
      std::printf("%s", serve::format_bench_result(r, c).c_str());
    return 0;
  };
}

}  // namespace yz::apps
