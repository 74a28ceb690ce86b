// Continuous batching: which requests run in the next model step and with how many tokens.
// vLLM V1's unified scheduler (vllm/v1/core/sched/scheduler.py): running requests first
// (decodes and the rest of chunked prefills), then waiting ones in FCFS order; a per-step token
// budget; chunked prefill; when the pool runs out of blocks the latest-arrived running request
// is preempted by recompute (its blocks freed, its tokens — prompt and output so far —
// recomputed when it runs again, so its output does not change). Torch-free; table-tested.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "serve/kv_cache_manager.h"
#include "serve/request.h"

namespace yz::serve {

struct SchedulerConfig {
  int64_t max_num_seqs = 256;            // running requests at most
  int64_t max_num_batched_tokens = 8192;  // tokens per step at most
  int64_t max_model_len = 2048;           // prompt + output tokens per request at most
  int64_t block_size = 16;
  int64_t num_blocks = 0;
  bool enable_prefix_caching = true;
  bool enable_chunked_prefill = true;
  int64_t long_prefill_token_threshold = 0;  // >0: prefill at most this many tokens per step
};

struct ScheduledRequest {
  Request* request;
  int64_t start;       // first token computed this step (= num_computed_tokens before)
  int64_t num_tokens;  // tokens computed this step
  bool samples;        // the chunk reaches the last token: the step yields its next token
};

struct SchedulerOutput {
  std::vector<ScheduledRequest> scheduled;  // running order
  std::vector<std::string> preempted;       // request ids preempted this step
  int64_t total_tokens = 0;
  bool empty() const { return scheduled.empty(); }
};

// A request that ended in update() or finish().
struct FinishedRequest {
  std::string id;
  FinishReason reason;
};

class Scheduler {
 public:
  explicit Scheduler(const SchedulerConfig& config);

  const SchedulerConfig& config() const { return config_; }
  // Queues a request (status waiting). Throws for an id in use, an empty prompt, a prompt that
  // leaves no room to generate within max_model_len, or one longer than the whole pool.
  Request& add(Request request);
  // Ends a request now (abort, or a stop string seen by the caller): frees its blocks at once.
  // False when the id is unknown or already finished.
  bool finish(const std::string& id, FinishReason reason);

  SchedulerOutput schedule();
  // Records the tokens sampled for the scheduled requests that sample (in scheduled order) and
  // returns the requests that finished (stop id, max_tokens, max_model_len).
  std::vector<FinishedRequest> update(const SchedulerOutput& out,
                                      const std::vector<int32_t>& sampled);
  // Forgets a finished request (the engine calls this after handing its output back).
  void release(const std::string& id);

  const Request* find(const std::string& id) const;
  int64_t num_running() const { return static_cast<int64_t>(running_.size()); }
  int64_t num_waiting() const { return static_cast<int64_t>(waiting_.size()); }
  bool has_unfinished() const { return !running_.empty() || !waiting_.empty(); }
  const KvCacheManager& kv() const { return kv_; }
  int64_t num_preemptions() const { return preemptions_; }
  int64_t prefix_cache_queries() const { return cache_queries_; }  // prompt tokens looked up
  int64_t prefix_cache_hits() const { return cache_hits_; }        // of them, found cached

 private:
  void preempt(Request* r);
  void end(Request* r, FinishReason reason);

  SchedulerConfig config_;
  KvCacheManager kv_;
  std::unordered_map<std::string, std::unique_ptr<Request>> requests_;
  std::vector<Request*> running_;  // scheduling order
  std::deque<Request*> waiting_;   // FCFS; preempted requests go back to the front
  int64_t arrivals_ = 0, preemptions_ = 0, cache_queries_ = 0, cache_hits_ = 0;
};

}  // namespace yz::serve
