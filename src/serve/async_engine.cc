// The engine thread (see async_engine.h). Each loop iteration applies the queued controls (new
// requests, early finishes) and then runs one engine step, so an abort frees its blocks before
// the next step. Latencies are taken here, when outputs leave the engine, as vLLM's output
// processor does (TTFT from arrival, inter-token gaps, end-to-end).
#include "serve/async_engine.h"

#include <cstdio>
#include <exception>

#include "util/error.h"

namespace yz::serve {

using Clock = std::chrono::steady_clock;

namespace {
double seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }
}  // namespace

bool RequestStream::wait_admitted(std::string* why) {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait(lock, [&] { return state_ != State::kPending; });
  if (state_ == State::kRefused && why != nullptr) *why = error_;
  return state_ == State::kAdmitted;
}

bool RequestStream::next(std::vector<StepOutput>* out, std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait_for(lock, timeout, [&] { return !outputs_.empty() || failed_; });
  if (outputs_.empty()) return failed_;
  for (StepOutput& o : outputs_) out->push_back(std::move(o));
  outputs_.clear();
  return true;
}

std::string RequestStream::failure() const {
  std::lock_guard<std::mutex> lock(mu_);
  return failed_ ? error_ : std::string();
}

void RequestStream::set_admitted(bool admitted, const std::string& why) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    state_ = admitted ? State::kAdmitted : State::kRefused;
    error_ = why;
  }
  cv_.notify_all();
}

void RequestStream::push(StepOutput o) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    outputs_.push_back(std::move(o));
  }
  cv_.notify_all();
}

void RequestStream::fail(const std::string& why) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    failed_ = true;
    error_ = why;
  }
  cv_.notify_all();
}

AsyncEngine::AsyncEngine(EngineCore& engine, ServingMetrics& metrics, const AsyncEngineConfig& config)
    : engine_(engine), metrics_(metrics), config_(config) {
  YZ_CHECK(config.max_num_seqs > 0 && config.max_waiting >= 0,
           "max_num_seqs must be positive and max_waiting >= 0");
  stats_ = engine_.stats();
  thread_ = std::thread([this] { loop(); });
}

AsyncEngine::~AsyncEngine() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void AsyncEngine::post(Control c) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    controls_.push_back(std::move(c));
  }
  cv_.notify_all();
}

std::shared_ptr<RequestStream> AsyncEngine::submit(const std::string& id, std::vector<int32_t> prompt,
                                                   const GenerationParams& params) {
  auto stream = std::make_shared<RequestStream>(id);
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (draining_ || stop_) throw Unavailable("the server is shutting down");
    const int64_t capacity = config_.max_num_seqs + config_.max_waiting;
    if (admitted_.load() >= capacity)
      throw Unavailable("the waiting queue is full (" + std::to_string(admitted_.load()) +
                        " requests admitted, --max-num-seqs " + std::to_string(config_.max_num_seqs) +
                        " + --max-waiting " + std::to_string(config_.max_waiting) + "); retry later");
    ++admitted_;
    controls_.push_back(Control{Control::Kind::kAdd, id, std::move(prompt), params, FinishReason::kNone,
                                stream, Clock::now()});
  }
  cv_.notify_all();
  return stream;
}

void AsyncEngine::finish(const std::string& id, FinishReason reason) {
  post(Control{Control::Kind::kFinish, id, {}, {}, reason, nullptr, {}});
}

EngineStats AsyncEngine::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_;
}

void AsyncEngine::drain(std::chrono::milliseconds grace) {
  std::unique_lock<std::mutex> lock(mu_);
  draining_ = true;
  if (!idle_cv_.wait_for(lock, grace, [&] { return admitted_.load() == 0; })) {
    controls_.push_back(Control{Control::Kind::kAbortAll, "", {}, {}, FinishReason::kAbort, nullptr, {}});
    cv_.notify_all();
    idle_cv_.wait(lock, [&] { return admitted_.load() == 0; });
  }
}

void AsyncEngine::loop() {
  bool busy = false;  // the engine has unfinished requests (engine thread only)
  for (;;) {
    std::deque<Control> controls;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [&] { return stop_ || busy || !controls_.empty(); });
      if (stop_) break;
      controls.swap(controls_);
    }
    for (Control& c : controls) apply(c);
    if (engine_.has_unfinished()) run_step();
    busy = engine_.has_unfinished();
    std::lock_guard<std::mutex> lock(mu_);
    stats_ = engine_.stats();
  }
  fail_all("the server stopped");
  // Requests still queued when the server stopped never reached the engine.
  std::lock_guard<std::mutex> lock(mu_);
  for (Control& c : controls_)
    if (c.kind == Control::Kind::kAdd) c.stream->set_admitted(false, "the server stopped");
}

void AsyncEngine::apply(Control& c) {
  switch (c.kind) {
    case Control::Kind::kAdd:
      try {
        const int64_t prompt_tokens = static_cast<int64_t>(c.prompt.size());
        engine_.add_request(c.id, std::move(c.prompt), c.params);
        active_[c.id] = Active{c.stream, c.arrival, c.arrival, prompt_tokens, 0};
        c.stream->set_admitted(true);
      } catch (const std::exception& e) {
        release_one();  // before the stream hears of it: a caller that saw it sees in_flight() drop
        c.stream->set_admitted(false, e.what());
      }
      break;
    case Control::Kind::kFinish:
      if (active_.count(c.id)) {
        engine_.finish(c.id, c.reason);
        retire(c.id, c.reason, Clock::now());
      }
      break;
    case Control::Kind::kAbortAll: {
      std::vector<std::string> ids;
      for (const auto& [id, a] : active_) ids.push_back(id);
      for (const std::string& id : ids) {
        engine_.finish(id, FinishReason::kAbort);
        Active& a = active_.at(id);
        StepOutput o;
        o.id = id;
        o.finished = true;
        o.reason = FinishReason::kAbort;
        o.prompt_tokens = a.prompt_tokens;
        o.output_tokens = a.output_tokens;
        const std::shared_ptr<RequestStream> stream = a.stream;
        retire(id, FinishReason::kAbort, Clock::now());
        stream->push(std::move(o));
      }
      break;
    }
  }
}

void AsyncEngine::run_step() {
  const EngineStats before = engine_.stats();
  std::vector<StepOutput> outputs;
  try {
    outputs = engine_.step();
  } catch (const std::exception& e) {
    // The step's state is unknown: end every request with the error and keep serving.
    std::fprintf(stderr, "error: engine step failed: %s\n", e.what());
    fail_all(std::string("internal error: ") + e.what());
    return;
  }
  const EngineStats after = engine_.stats();
  const Clock::time_point now = Clock::now();
  metrics_.on_iteration((after.prompt_tokens + after.generation_tokens) -
                        (before.prompt_tokens + before.generation_tokens));
  for (StepOutput& o : outputs) {
    auto it = active_.find(o.id);
    YZ_ASSERT(it != active_.end(), "engine output for unknown request ", o.id);
    Active& a = it->second;
    for (size_t i = 0; i < o.tokens.size(); ++i) {
      if (a.output_tokens++ == 0)
        metrics_.on_first_token(seconds(now - a.arrival), a.prompt_tokens);
      else
        metrics_.on_next_token(seconds(now - a.last_token));
      a.last_token = now;
    }
    const std::shared_ptr<RequestStream> stream = a.stream;
    if (o.finished) retire(o.id, o.reason, now);  // first, so a client that saw the end sees it retired
    stream->push(std::move(o));
  }
}

void AsyncEngine::retire(const std::string& id, FinishReason reason, Clock::time_point now) {
  auto it = active_.find(id);
  const Active& a = it->second;
  metrics_.on_finish(reason, seconds(now - a.arrival), a.prompt_tokens, a.output_tokens);
  active_.erase(it);
  release_one();
}

void AsyncEngine::release_one() {
  --admitted_;
  // Under the lock, so that drain() cannot miss the wake-up between its check and its wait.
  std::lock_guard<std::mutex> lock(mu_);
  idle_cv_.notify_all();
}

void AsyncEngine::fail_all(const std::string& why) {
  const Clock::time_point now = Clock::now();
  std::vector<std::string> ids;
  for (const auto& [id, a] : active_) ids.push_back(id);
  for (const std::string& id : ids) {
    try {
      engine_.finish(id, FinishReason::kAbort);
    } catch (const std::exception&) {
      // The engine is already broken; the request is gone from our side either way.
    }
    const std::shared_ptr<RequestStream> stream = active_.at(id).stream;
    retire(id, FinishReason::kAbort, now);
    stream->fail(why);
  }
}

}  // namespace yz::serve
