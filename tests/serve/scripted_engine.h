// A scripted EngineCore for the server's tests: each request "generates" its own prompt back,
// token by token (output k = prompt[k % prompt_len]), one token per step, so a test chooses
// the output by choosing the prompt. Stops like the real engine (stop ids, max_tokens), holds
// one block per request while it runs (for leak checks), and can be slowed down or made to
// fail, so that disconnects, queueing, shutdown and engine errors can be timed and provoked.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <set>
#include <stdexcept>
#include <thread>

#include "serve/engine_api.h"
#include "util/error.h"

namespace yz::serve::test {

class ScriptedEngine : public EngineCore {
 public:
  explicit ScriptedEngine(int64_t max_running = 64) : max_running_(max_running) {}

  void add_request(const std::string& id, std::vector<int32_t> prompt, const GenerationParams& p) override {
    YZ_CHECK(!prompt.empty(), "request '", id, "': empty prompt");
    YZ_CHECK(prompt.size() < 1000, "request '", id, "': prompt longer than the whole pool");
    std::lock_guard<std::mutex> lock(mu_);
    YZ_CHECK(!requests_.count(id), "request id '", id, "' is already in use");
    requests_[id] = Req{std::move(prompt), p, 0, false};
    order_.push_back(id);
  }

  bool finish(const std::string& id, FinishReason reason) override {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = requests_.find(id);
    if (it == requests_.end()) return false;
    ended_[id] = reason;
    erase(id);
    return true;
  }

  std::vector<StepOutput> step() override {
    const std::chrono::milliseconds delay = step_delay_.load();
    if (delay.count() > 0) std::this_thread::sleep_for(delay);
    std::lock_guard<std::mutex> lock(mu_);
    ++steps_;
    if (fail_at_step_ > 0 && steps_ == fail_at_step_) throw std::runtime_error("scripted failure");
    std::vector<StepOutput> out;
    std::vector<std::string> done;
    int64_t running = 0;
    for (const std::string& id : order_) {
      if (running++ >= max_running_) break;
      Req& r = requests_.at(id);
      r.running = true;
      const int32_t token = r.prompt[r.generated % r.prompt.size()];
      ++r.generated;
      StepOutput o;
      o.id = id;
      o.tokens.push_back({token, -0.5f});
      if (r.params.top_logprobs > 0) {
        o.top.emplace_back();
        for (int64_t k = 0; k < r.params.top_logprobs; ++k)
          o.top[0].push_back({token + static_cast<int32_t>(k), -0.5f - static_cast<float>(k)});
      }
      const bool stop = std::count(r.params.stop_token_ids.begin(), r.params.stop_token_ids.end(), token) > 0;
      o.finished = stop || r.generated >= r.params.max_tokens;
      o.reason = stop ? FinishReason::kStop : o.finished ? FinishReason::kLength : FinishReason::kNone;
      o.prompt_tokens = static_cast<int64_t>(r.prompt.size());
      o.output_tokens = r.generated;
      out.push_back(o);
      if (o.finished) {
        ended_[id] = o.reason;
        done.push_back(id);
      }
    }
    for (const std::string& id : done) erase(id);
    return out;
  }

  bool has_unfinished() const override {
    std::lock_guard<std::mutex> lock(mu_);
    return !requests_.empty();
  }

  EngineStats stats() const override {
    std::lock_guard<std::mutex> lock(mu_);
    EngineStats s;
    for (const auto& [id, r] : requests_) (r.running ? s.running : s.waiting) += 1;
    s.kv_usage = static_cast<double>(requests_.size()) / 1000.0;
    s.steps = steps_;
    return s;
  }

  // Requests holding "blocks" right now, and how each ended.
  int64_t live() const {
    std::lock_guard<std::mutex> lock(mu_);
    return static_cast<int64_t>(requests_.size());
  }
  std::map<std::string, FinishReason> ended() const {
    std::lock_guard<std::mutex> lock(mu_);
    return ended_;
  }
  int64_t steps() const {
    std::lock_guard<std::mutex> lock(mu_);
    return steps_;
  }
  void set_step_delay(std::chrono::milliseconds d) { step_delay_ = d; }
  void fail_at_step(int64_t s) {
    std::lock_guard<std::mutex> lock(mu_);
    fail_at_step_ = s;
  }

 private:
  struct Req {
    std::vector<int32_t> prompt;
    GenerationParams params;
    int64_t generated = 0;
    bool running = false;
  };
  void erase(const std::string& id) {
    requests_.erase(id);
    order_.erase(std::find(order_.begin(), order_.end(), id));
  }

  const int64_t max_running_;
  mutable std::mutex mu_;
  std::map<std::string, Req> requests_;
  std::vector<std::string> order_;
  std::map<std::string, FinishReason> ended_;
  int64_t steps_ = 0, fail_at_step_ = 0;
  std::atomic<std::chrono::milliseconds> step_delay_{std::chrono::milliseconds(0)};
};

}  // namespace yz::serve::test
