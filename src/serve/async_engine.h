// The engine behind the HTTP server: ONE EngineCore stepped on ONE thread (the engine is
// single-threaded by design), fed through a control queue by the connection threads and
// answering each request through its own RequestStream. Admission control (a bounded waiting
// queue), early finishes (client gone, stop string matched) applied before the next step, a
// drain for graceful shutdown, and the timings the Prometheus histograms need are all here.
// Torch-free: tests drive it with a scripted engine.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "serve/engine_api.h"
#include "serve/metrics.h"

namespace yz::serve {

// One request's outputs, filled by the engine thread and drained by the request's connection
// thread.
class RequestStream {
 public:
  explicit RequestStream(std::string id) : id_(std::move(id)) {}
  const std::string& id() const { return id_; }

  // Blocks until the engine thread queued the request (true) or refused it (false; *why says
  // why, e.g. a prompt longer than the whole KV pool).
  bool wait_admitted(std::string* why);
  // Moves the outputs produced since the last call into *out (appending), waiting up to
  // `timeout` when there are none yet. True when there is something to act on: outputs, or a
  // failure (failure() non-empty; nothing more will come).
  bool next(std::vector<StepOutput>* out, std::chrono::milliseconds timeout);
  std::string failure() const;

 private:
  friend class AsyncEngine;
  enum class State { kPending, kAdmitted, kRefused };
  void set_admitted(bool admitted, const std::string& why = "");
  void push(StepOutput o);
  void fail(const std::string& why);

  const std::string id_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  State state_ = State::kPending;
  std::string error_;  // refusal or failure
  bool failed_ = false;
  std::vector<StepOutput> outputs_;
};

// Thrown by submit(): the waiting queue is full (HTTP 503 at once), or the server is draining.
class Unavailable : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct AsyncEngineConfig {
  int64_t max_num_seqs = 256;  // the engine's running limit
  int64_t max_waiting = 1024;  // admitted requests beyond max_num_seqs, at most
};

class AsyncEngine {
 public:
  // Starts the engine thread. `engine` and `metrics` must outlive this object.
  AsyncEngine(EngineCore& engine, ServingMetrics& metrics, const AsyncEngineConfig& config);
  ~AsyncEngine();  // aborts whatever is left and joins the engine thread
  AsyncEngine(const AsyncEngine&) = delete;
  AsyncEngine& operator=(const AsyncEngine&) = delete;

  // Queues a request (ids must be unique). Throws Unavailable at once when max_num_seqs +
  // max_waiting requests are already admitted, or while draining. The stream reports whether
  // the engine accepted it, then its outputs.
  std::shared_ptr<RequestStream> submit(const std::string& id, std::vector<int32_t> prompt,
                                        const GenerationParams& params);
  // Ends a request before the engine would: kAbort (client gone) or kStop (a stop string
  // matched). Applied before the next step, so its blocks are free within one step. No-op for
  // requests already finished.
  void finish(const std::string& id, FinishReason reason);

  // Engine counters as of the last step.
  EngineStats stats() const;
  // Requests admitted and not finished.
  int64_t in_flight() const { return admitted_.load(); }
  // Graceful shutdown: refuse new requests; wait up to `grace` for the admitted ones to finish,
  // then abort the rest (their streams end with finish_reason "abort") and wait for that.
  void drain(std::chrono::milliseconds grace);

 private:
  struct Control {
    enum class Kind { kAdd, kFinish, kAbortAll } kind;
    std::string id;
    std::vector<int32_t> prompt;
    GenerationParams params;
    FinishReason reason = FinishReason::kNone;
    std::shared_ptr<RequestStream> stream;
    std::chrono::steady_clock::time_point arrival;
  };
  struct Active {
    std::shared_ptr<RequestStream> stream;
    std::chrono::steady_clock::time_point arrival, last_token;
    int64_t prompt_tokens = 0, output_tokens = 0;
  };

  void loop();
  void apply(Control& c);
  void run_step();
  // Ends an active request on the engine thread: metrics, stream, admission count.
  void retire(const std::string& id, FinishReason reason, std::chrono::steady_clock::time_point now);
  void fail_all(const std::string& why);
  void release_one();  // an admitted request left (finished or refused)
  void post(Control c);

  EngineCore& engine_;
  ServingMetrics& metrics_;
  const AsyncEngineConfig config_;

  mutable std::mutex mu_;  // guards controls_, stop_, draining_, stats_
  std::condition_variable cv_;       // engine thread: new controls
  std::condition_variable idle_cv_;  // drain(): admitted_ changed
  std::deque<Control> controls_;
  bool stop_ = false, draining_ = false;
  EngineStats stats_;
  std::atomic<int64_t> admitted_{0};

  // Engine thread only.
  std::unordered_map<std::string, Active> active_;
  std::thread thread_;
};

}  // namespace yz::serve
