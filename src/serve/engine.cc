// Engine step loop (see engine.h).
#include "serve/engine.h"

#include <cstdio>

#include "util/error.h"

namespace yz::serve {

namespace {
SchedulerConfig scheduler_config(const EngineConfig& c, const KvPoolReport& pool) {
  SchedulerConfig s;
  s.max_num_seqs = c.runner.max_num_seqs;
  s.max_num_batched_tokens = c.runner.max_num_batched_tokens;
  s.max_model_len = pool.max_model_len;
  s.block_size = pool.block_size;
  s.num_blocks = pool.num_blocks;
  s.enable_prefix_caching = c.enable_prefix_caching;
  s.enable_chunked_prefill = c.enable_chunked_prefill;
  s.long_prefill_token_threshold = c.long_prefill_token_threshold;
  return s;
}
}  // namespace

Engine::Engine(const EngineConfig& c)
    : config_(c), runner_(c.runner), scheduler_(scheduler_config(c, runner_.pool())) {}

std::string Engine::startup_report() const {
  const KvPoolReport& p = pool();
  const char* where = runner_.config().device.is_cuda() ? "GPU" : "CPU";
  char buf[256];
  std::snprintf(buf, sizeof buf,
                "%s KV cache size: %lld tokens\nMaximum concurrency for %lld tokens per request: %.2fx\n",
                where, static_cast<long long>(p.tokens()), static_cast<long long>(p.max_model_len),
                p.max_concurrency());
  std::string out = buf;
  if (p.device_total_bytes > 0) {
    std::snprintf(buf, sizeof buf,
                  "GPU memory: weights %.2f GiB, activations %.2f GiB, KV cache %.2f GiB of %.2f GiB\n",
                  p.weight_bytes / 1073741824.0, p.activation_peak_bytes / 1073741824.0,
                  p.pool_bytes / 1073741824.0, p.device_total_bytes / 1073741824.0);
    out += buf;
  }
  return out;
}

void Engine::add_request(const std::string& id, std::vector<int32_t> prompt,
                         const GenerationParams& params) {
  YZ_CHECK(params.top_logprobs >= 0 && params.top_logprobs <= 20,
           "request '", id, "': top_logprobs must be in [0, 20]");
  const int64_t vocab = model_config().vocab_size;
  for (int32_t t : prompt)
    YZ_CHECK(t >= 0 && t < vocab, "request '", id, "': token id ", t, " outside the vocabulary of ", vocab);
  Request r;
  r.id = id;
  r.prompt = std::move(prompt);
  r.max_tokens = params.max_tokens;
  r.stop_ids = params.stop_token_ids;
  if (!params.ignore_eos)
    for (int64_t e : model_config().eos_token_ids) r.stop_ids.push_back(static_cast<int32_t>(e));
  auto state = std::make_unique<State>(State{Sampler(params.sampling), params});
  scheduler_.add(std::move(r));  // validates; throws before anything is kept
  states_[id] = std::move(state);
}

bool Engine::finish(const std::string& id, FinishReason reason) {
  const bool ended = scheduler_.finish(id, reason);
  if (ended) {
    scheduler_.release(id);
    states_.erase(id);
  }
  return ended;
}

std::vector<StepOutput> Engine::step() {
  SchedulerOutput out = scheduler_.schedule();
  std::vector<StepOutput> results;
  if (out.empty()) return results;
  std::vector<Sampler*> samplers;
  int64_t top_k = 0;
  bool logprobs = false;
  for (const ScheduledRequest& s : out.scheduled)
    if (s.samples) {
      State& st = *states_.at(s.request->id);
      samplers.push_back(&st.sampler);
      top_k = std::max(top_k, st.params.top_logprobs);
      logprobs = logprobs || st.params.logprobs || st.params.top_logprobs > 0;
    }
  std::vector<std::vector<SampledToken>> top;
  std::vector<SampledToken> sampled =
      runner_.execute(out, samplers, logprobs, top_k, top_k > 0 ? &top : nullptr);
  std::vector<int32_t> ids;
  for (const SampledToken& t : sampled) ids.push_back(t.token);
  std::vector<FinishedRequest> finished = scheduler_.update(out, ids);
  ++stats_.steps;
  stats_.peak_running = std::max<int64_t>(stats_.peak_running, out.scheduled.size());
  size_t k = 0;
  for (const ScheduledRequest& s : out.scheduled) {
    if (!s.samples) {
      stats_.prompt_tokens += s.num_tokens;
      continue;
    }
    const Request& r = *s.request;
    StepOutput o;
    o.id = r.id;
    o.tokens.push_back(sampled[k]);
    const int64_t want = states_.at(r.id)->params.top_logprobs;
    if (want > 0) o.top.emplace_back(top[k].begin(), top[k].begin() + std::min<size_t>(want, top[k].size()));
    ++k;
    o.finished = r.finished();
    o.reason = r.finish_reason;
    o.prompt_tokens = static_cast<int64_t>(r.prompt.size());
    o.output_tokens = static_cast<int64_t>(r.output.size());
    o.cached_tokens = r.num_cached_tokens;
    stats_.prompt_tokens += s.num_tokens - 1;
    ++stats_.generation_tokens;
    results.push_back(std::move(o));
  }
  for (const FinishedRequest& f : finished) {
    scheduler_.release(f.id);
    states_.erase(f.id);
  }
  return results;
}

EngineStats Engine::stats() const {
  EngineStats s = stats_;
  s.running = scheduler_.num_running();
  s.waiting = scheduler_.num_waiting();
  s.kv_usage = scheduler_.kv().pool().usage();
  s.preemptions = scheduler_.num_preemptions();
  s.prefix_queries = scheduler_.prefix_cache_queries();
  s.prefix_hits = scheduler_.prefix_cache_hits();
  return s;
}

std::vector<std::vector<int32_t>> generate_all(Engine& engine, const std::vector<std::vector<int32_t>>& prompts,
                                              const GenerationParams& params,
                                              const std::function<void(const Engine&)>& on_step) {
  std::vector<std::vector<int32_t>> out(prompts.size());
  std::unordered_map<std::string, size_t> index;
  for (size_t i = 0; i < prompts.size(); ++i) {
    const std::string id = "offline-" + std::to_string(i);
    engine.add_request(id, prompts[i], params);
    index[id] = i;
  }
  while (engine.has_unfinished()) {
    for (const StepOutput& o : engine.step())
      for (const SampledToken& t : o.tokens) out[index.at(o.id)].push_back(t.token);
    if (on_step) on_step(engine);
  }
  return out;
}

}  // namespace yz::serve
