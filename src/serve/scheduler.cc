// The step scheduler (see scheduler.h). Comments cite the vLLM V1 behaviour each rule follows.
#include "serve/scheduler.h"

#include <algorithm>

#include "util/error.h"

namespace yz::serve {

Scheduler::Scheduler(const SchedulerConfig& c)
    : config_(c), kv_(c.num_blocks, c.block_size, c.enable_prefix_caching) {
  YZ_CHECK(c.max_num_seqs > 0 && c.max_num_batched_tokens > 0, "scheduler limits must be positive");
  YZ_CHECK(c.enable_chunked_prefill || c.max_num_batched_tokens >= c.max_model_len,
           "without chunked prefill --max-num-batched-tokens (", c.max_num_batched_tokens,
           ") must hold a whole --max-model-len prompt (", c.max_model_len, ")");
}

Request& Scheduler::add(Request r) {
  YZ_CHECK(!requests_.count(r.id), "request id '", r.id, "' is already in use");
  YZ_CHECK(!r.prompt.empty(), "request '", r.id, "': empty prompt");
  const int64_t len = static_cast<int64_t>(r.prompt.size());
  YZ_CHECK(len < config_.max_model_len, "request '", r.id, "': prompt of ", len,
                 " tokens leaves no room to generate within max_model_len ",
                 config_.max_model_len);
  YZ_CHECK(r.max_tokens > 0, "request '", r.id, "': max_tokens must be positive");
  r.arrival = arrivals_++;
  r.status = RequestStatus::kWaiting;
  auto owned = std::make_unique<Request>(std::move(r));
  Request* p = owned.get();
  requests_.emplace(p->id, std::move(owned));
  waiting_.push_back(p);
  return *p;
}

void Scheduler::preempt(Request* r) {
  kv_.free(*r);
  r->status = RequestStatus::kPreempted;
  r->num_computed_tokens = 0;  // recompute: prompt + output so far on resumption
  ++r->num_preemptions;
  ++preemptions_;
  waiting_.push_front(r);
}

void Scheduler::end(Request* r, FinishReason reason) {
  kv_.free(*r);
  r->status = RequestStatus::kFinished;
  r->finish_reason = reason;
  running_.erase(std::remove(running_.begin(), running_.end(), r), running_.end());
  waiting_.erase(std::remove(waiting_.begin(), waiting_.end(), r), waiting_.end());
}

bool Scheduler::finish(const std::string& id, FinishReason reason) {
  auto it = requests_.find(id);
  if (it == requests_.end() || it->second->finished()) return false;
  end(it->second.get(), reason);
  return true;
}

SchedulerOutput Scheduler::schedule() {
  SchedulerOutput out;
  int64_t budget = config_.max_num_batched_tokens;
  auto clamp = [&](const Request& r, int64_t n) {
    if (config_.long_prefill_token_threshold > 0)
      n = std::min(n, config_.long_prefill_token_threshold);
    return std::min(n, budget);
  };
  // 1. Running requests, in order; preempt from the back when blocks run out.
  for (size_t i = 0; i < running_.size() && budget > 0;) {
    Request* r = running_[i];
    const int64_t n = clamp(*r, r->num_tokens() - r->num_computed_tokens);
    if (n <= 0) {
      ++i;
      continue;
    }
    bool scheduled = false;
    while (true) {
      if (kv_.allocate(*r, n)) {
        scheduled = true;
        break;
      }
      Request* victim = running_.back();  // FCFS: the lowest priority runs last
      running_.pop_back();
      // A victim already scheduled this step loses its slot in the batch.
      for (auto it = out.scheduled.begin(); it != out.scheduled.end(); ++it)
        if (it->request == victim) {
          budget += it->num_tokens;
          out.total_tokens -= it->num_tokens;
          out.scheduled.erase(it);
          break;
        }
      preempt(victim);
      out.preempted.push_back(victim->id);
      if (victim == r) break;
    }
    if (!scheduled) break;
    out.scheduled.push_back({r, r->num_computed_tokens, n, r->num_computed_tokens + n == r->num_tokens()});
    budget -= n;
    out.total_tokens += n;
    ++i;
  }
  // 2. Waiting requests, FCFS, only when nothing was preempted this step (vLLM: a step that
  // had to preempt does not admit new work).
  while (out.preempted.empty() && !waiting_.empty() && budget > 0 &&
         static_cast<int64_t>(running_.size()) < config_.max_num_seqs) {
    Request* r = waiting_.front();
    PrefixHit hit = kv_.computed_blocks(*r);
    const int64_t remaining = r->num_tokens() - hit.tokens;
    if (!config_.enable_chunked_prefill && remaining > budget) break;
    const int64_t n = clamp(*r, remaining);
    if (!kv_.allocate(*r, n, hit)) break;
    waiting_.pop_front();
    if (r->status == RequestStatus::kWaiting) {  // first admission: prefix-cache accounting
      cache_queries_ += static_cast<int64_t>(r->prompt.size());
      cache_hits_ += hit.tokens;
      r->num_cached_tokens = hit.tokens;
    }
    r->status = RequestStatus::kRunning;
    r->num_computed_tokens = hit.tokens;
    running_.push_back(r);
    out.scheduled.push_back({r, r->num_computed_tokens, n, r->num_computed_tokens + n == r->num_tokens()});
    budget -= n;
    out.total_tokens += n;
  }
  // Tokens scheduled now count as computed (vLLM's _update_after_schedule); their blocks hold
  // known tokens, so full ones can be offered to the prefix cache already.
  for (ScheduledRequest& s : out.scheduled) {
    s.request->num_computed_tokens += s.num_tokens;
    kv_.register_full_blocks(*s.request, s.request->num_computed_tokens);
  }
  return out;
}

std::vector<FinishedRequest> Scheduler::update(const SchedulerOutput& out,
                                               const std::vector<int32_t>& sampled) {
  std::vector<FinishedRequest> finished;
  size_t next = 0;
  for (const ScheduledRequest& s : out.scheduled) {
    if (!s.samples) continue;
    YZ_ASSERT(next < sampled.size(), "scheduler update: fewer sampled tokens than sampling requests");
    Request* r = s.request;
    const int32_t token = sampled[next++];
    if (r->finished()) continue;  // finished (aborted) while the step ran
    r->output.push_back(token);
    FinishReason reason = FinishReason::kNone;
    if (std::find(r->stop_ids.begin(), r->stop_ids.end(), token) != r->stop_ids.end())
      reason = FinishReason::kStop;
    else if (static_cast<int64_t>(r->output.size()) >= r->max_tokens ||
             r->num_tokens() >= config_.max_model_len)
      reason = FinishReason::kLength;
    if (reason != FinishReason::kNone) {
      end(r, reason);
      finished.push_back({r->id, reason});
    }
  }
  YZ_ASSERT(next == sampled.size(), "scheduler update: more sampled tokens than sampling requests");
  return finished;
}

void Scheduler::release(const std::string& id) {
  auto it = requests_.find(id);
  if (it != requests_.end() && it->second->finished()) requests_.erase(it);
}

const Request* Scheduler::find(const std::string& id) const {
  auto it = requests_.find(id);
  return it == requests_.end() ? nullptr : it->second.get();
}

}  // namespace yz::serve
