// The OpenAI-compatible HTTP server (cpp-httplib): /v1/completions and /v1/chat/completions
// (JSON or SSE streams ending in "data: [DONE]"), /v1/models, /health (200 only once the model
// is loaded), /tokenize, /detokenize, /version and Prometheus /metrics. Every failure is an
// OpenAI error object with its status (400 bad request, 401 bad key, 404 unknown model or
// route, 413 body too large, 503 queue full or shutting down); handlers never throw into the
// library and never leave a connection hanging. A client that goes away mid-request has its
// request aborted at once. Torch-free: the engine comes in through AsyncEngine.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "serve/async_engine.h"
#include "serve/metrics.h"
#include "serve/openai_protocol.h"
#include "tokenizer/tokenizer.h"

namespace httplib {
class Server;
struct Request;
struct Response;
}  // namespace httplib

namespace yz::serve {

// Renders chat messages (objects with role and text content) into the prompt text with the
// model's chat template. Throws yz::Error when the template rejects the conversation (a 400).
using ChatRenderer = std::function<std::string(const Json& messages, bool add_generation_prompt, const Json& kwargs)>;

struct ServerConfig {
  std::string host = "127.0.0.1";
  int port = 8000;                               // 0: any free port (see port())
  std::vector<std::string> served_model_names;   // the first is reported by /v1/models
  std::string model_path;                        // /v1/models "root"
  std::string api_key;                           // non-empty: /v1/* require "Authorization: Bearer KEY"
  std::vector<int32_t> extra_stop_token_ids;     // generation_config.json's EOS ids, for every request
  std::vector<int32_t> chat_stop_token_ids;      // end of an assistant turn, for chat requests
  size_t max_body_bytes = 32 << 20;
  int64_t max_connections = 2048;                // connection threads at most; more wait for one
  std::string version;
};

class OpenAiServer {
 public:
  // `chat` may be empty (the model has no chat template): chat requests then get a 400.
  OpenAiServer(ServerConfig config, const tok::Tokenizer& tokenizer, ChatRenderer chat);
  ~OpenAiServer();

  // Binds the listening socket (throws yz::Error when that fails). Requests are answered from
  // run() on; until attach() every endpoint but /health and /version answers 503.
  void bind();
  int port() const { return port_; }
  // The model is loaded: serve requests through `engine`. Prompt + output tokens are limited to
  // max_model_len; token ids to the vocabulary.
  void attach(AsyncEngine& engine, ServingMetrics& metrics, int64_t max_model_len, int64_t vocab_size);
  // Accepts connections until stop(); returns once every connection has been served.
  void run();
  // Stops accepting (thread-safe; from a signal thread). In-flight requests go on.
  void stop();

 private:
  void routes();
  void completions(const httplib::Request& req, httplib::Response& res, Endpoint endpoint);
  void tokenize(const httplib::Request& req, httplib::Response& res);
  void detokenize(const httplib::Request& req, httplib::Response& res);
  // The served model, or a 404 naming the one asked for.
  void check_model(const std::string& model) const;
  std::string render_chat(const Json& messages, bool add_generation_prompt, const Json& kwargs) const;
  // True once attach()ed; otherwise answers 503.
  bool ready(httplib::Response& res) const;

  ServerConfig config_;
  int64_t max_model_len_ = 0, vocab_size_ = 0;  // set by attach(), read after engine_
  const tok::Tokenizer& tokenizer_;
  ChatRenderer chat_;
  std::unique_ptr<httplib::Server> http_;
  int port_ = 0;
  std::atomic<AsyncEngine*> engine_{nullptr};
  std::atomic<ServingMetrics*> metrics_{nullptr};
  std::atomic<uint64_t> next_id_{0};
  std::mutex run_mu_;  // run() and stop() may race (a failure while the model loads)
  bool running_ = false, stopping_ = false;
  std::atomic<bool> finished_{false};
  std::string id_prefix_;  // random per server run, so ids differ across restarts
};

}  // namespace yz::serve
