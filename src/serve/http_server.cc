// The HTTP server's routes, authentication, errors and the endpoints that do not generate (see
// http_server.h); /v1/completions and /v1/chat/completions are in openai_generate.cc.
#include "serve/http_server.h"

#include <httplib.h>
#include <sys/socket.h>

#include <condition_variable>
#include <cstdio>
#include <ctime>
#include <list>
#include <mutex>
#include <random>
#include <thread>

#include "util/error.h"

namespace yz::serve {

namespace {

constexpr int kListenBacklog = 2048;

// cpp-httplib runs each connection on a task queue. Streams hold their connection for the
// whole generation, so a fixed pool would let a burst of streams starve /health and the 503s
// that admission control promises "at once": instead every connection gets its own thread,
// up to a cap (beyond it, connections wait for a thread to finish).
class ConnectionThreads : public httplib::TaskQueue {
 public:
  explicit ConnectionThreads(size_t cap) : cap_(cap) {}
  ~ConnectionThreads() override { shutdown(); }

  void enqueue(std::function<void()> fn) override {
    std::lock_guard<std::mutex> lock(mu_);
    reap();
    if (running_ >= cap_) {
      pending_.push_back(std::move(fn));
      return;
    }
    ++running_;
    threads_.emplace_back();
    auto it = std::prev(threads_.end());
    *it = std::thread([this, it, fn = std::move(fn)]() mutable { work(std::move(fn), it); });
  }

  // Waits for every connection (pending ones included) to be served.
  void shutdown() override {
    std::unique_lock<std::mutex> lock(mu_);
    idle_.wait(lock, [&] { return running_ == 0; });
    reap();
  }

 private:
  void work(std::function<void()> fn, std::list<std::thread>::iterator self) {
    for (;;) {
      fn();
      std::lock_guard<std::mutex> lock(mu_);
      if (pending_.empty()) {
        --running_;
        done_.push_back(self);
        idle_.notify_all();
        return;
      }
      fn = std::move(pending_.front());
      pending_.pop_front();
    }
  }
  // Joins threads that have finished (caller holds mu_).
  void reap() {
    for (auto it : done_) {
      it->join();
      threads_.erase(it);
    }
    done_.clear();
  }

  const size_t cap_;
  std::mutex mu_;
  std::condition_variable idle_;
  size_t running_ = 0;
  std::list<std::thread> threads_;
  std::vector<std::list<std::thread>::iterator> done_;
  std::list<std::function<void()>> pending_;
};

void send(httplib::Response& res, const ApiError& e) {
  res.status = e.status();
  res.set_content(e.body(), "application/json");
}

void send_json(httplib::Response& res, const Json& j) {
  res.set_content(j.dump(-1, ' ', false, Json::error_handler_t::replace), "application/json");
}

// Constant-time comparison, so that response timing does not reveal how much of a key matched.
bool same_key(const std::string& a, const std::string& b) {
  if (a.size() != b.size()) return false;
  unsigned char diff = 0;
  for (size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0;
}

}  // namespace

OpenAiServer::OpenAiServer(ServerConfig config, const tok::Tokenizer& tokenizer, ChatRenderer chat)
    : config_(std::move(config)), tokenizer_(tokenizer), chat_(std::move(chat)), http_(new httplib::Server) {
  YZ_CHECK(!config_.served_model_names.empty(), "no served model name");
  std::random_device rd;
  char buf[16];
  std::snprintf(buf, sizeof buf, "%08x", rd());
  id_prefix_ = buf;
  routes();
}

OpenAiServer::~OpenAiServer() = default;

void OpenAiServer::bind() {
  // httplib's default sets SO_REUSEPORT, which lets a second server bind the same port and
  // steal half its connections; SO_REUSEADDR alone still allows a restart over TIME_WAIT.
  socket_t listener = INVALID_SOCKET;
  http_->set_socket_options([&listener](socket_t sock) {
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
    listener = sock;  // the last socket tried is the one bound when binding succeeds
  });
  if (config_.port == 0) {
    port_ = http_->bind_to_any_port(config_.host);
    YZ_CHECK(port_ > 0, "cannot listen on ", config_.host, " (any port)");
  } else {
    YZ_CHECK(http_->bind_to_port(config_.host, config_.port), "cannot listen on ", config_.host, ":",
             config_.port, " (address in use, or not an address of this machine)");
    port_ = config_.port;
  }
  // Debian's libcpp-httplib is compiled with a listen backlog of 5 (CPPHTTPLIB_LISTEN_BACKLOG):
  // a burst of clients connecting at once overflows it and some get "connection reset". Linux
  // takes a second listen() on a listening socket as a new backlog; uvicorn (vLLM) uses 2048,
  // the kernel caps it at net.core.somaxconn.
  YZ_CHECK(listener != INVALID_SOCKET && ::listen(listener, kListenBacklog) == 0,
           "cannot set the listen backlog on ", config_.host, ":", port_);
}

void OpenAiServer::attach(AsyncEngine& engine, ServingMetrics& metrics, int64_t max_model_len, int64_t vocab_size) {
  max_model_len_ = max_model_len;
  vocab_size_ = vocab_size;
  metrics_ = &metrics;
  engine_ = &engine;  // last: handlers read the fields above only after seeing the engine
}

void OpenAiServer::run() {
  {
    std::lock_guard<std::mutex> lock(run_mu_);
    if (stopping_) return;
    running_ = true;
  }
  http_->listen_after_bind();
  finished_ = true;
}

void OpenAiServer::stop() {
  std::lock_guard<std::mutex> lock(run_mu_);
  stopping_ = true;
  // cpp-httplib ignores stop() until its accept loop has started: wait for that.
  while (running_ && !finished_ && !http_->is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  http_->stop();
}

bool OpenAiServer::ready(httplib::Response& res) const {
  if (engine_.load() != nullptr) return true;
  send(res, ApiError(503, "The model is still loading; retry when /health answers 200.", "", "model_loading"));
  return false;
}

void OpenAiServer::check_model(const std::string& model) const {
  if (model.empty()) return;
  for (const std::string& n : config_.served_model_names)
    if (n == model) return;
  throw ApiError(404, "The model `" + model + "` does not exist.", "model", "model_not_found");
}

std::string OpenAiServer::render_chat(const Json& messages, bool add_generation_prompt, const Json& kwargs) const {
  if (!chat_)
    throw bad_request("This model has no chat template; start the server with --chat-template FILE, or use "
                      "/v1/completions.",
                      "messages", "no_chat_template");
  try {
    return chat_(messages, add_generation_prompt, kwargs);
  } catch (const yz::Error& e) {
    throw bad_request(std::string("The chat template rejected the conversation: ") + e.what(), "messages");
  }
}

void OpenAiServer::routes() {
  httplib::Server& s = *http_;
  const size_t cap = static_cast<size_t>(std::max<int64_t>(config_.max_connections, 16));
  s.new_task_queue = [cap] { return new ConnectionThreads(cap); };
  s.set_payload_max_length(config_.max_body_bytes);
  s.set_keep_alive_max_count(1000);
  s.set_tcp_nodelay(true);  // an SSE chunk per token: Nagle's algorithm would hold them back

  // vLLM checks the key on /v1 routes only (health checks and scrapers go without).
  s.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
    if (config_.api_key.empty() || req.path.rfind("/v1/", 0) != 0) return httplib::Server::HandlerResponse::Unhandled;
    const std::string auth = req.get_header_value("Authorization");
    const std::string bearer = "Bearer ";
    if (auth.rfind(bearer, 0) == 0 && same_key(auth.substr(bearer.size()), config_.api_key))
      return httplib::Server::HandlerResponse::Unhandled;
    send(res, ApiError(401, auth.empty() ? "You didn't provide an API key. Provide it in an Authorization header "
                                           "using Bearer auth (Authorization: Bearer YOUR_KEY)."
                                         : "Incorrect API key provided.",
                       "", "invalid_api_key"));
    return httplib::Server::HandlerResponse::Handled;
  });
  // Errors cpp-httplib produces itself (no route, body too large, malformed request line)
  // get an OpenAI error body; responses that already have one are left alone.
  s.set_error_handler(httplib::Server::HandlerWithResponse([](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty() || res.content_provider_) return httplib::Server::HandlerResponse::Unhandled;
    std::string message = "Invalid URL (" + req.method + " " + req.path + ")";
    if (res.status == 413) message = "The request body is too large.";
    if (res.status == 400) message = "Malformed HTTP request.";
    send(res, ApiError(res.status, message, "", res.status == 404 ? "unknown_url" : ""));
    return httplib::Server::HandlerResponse::Handled;
  }));
  s.set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
    try {
      std::rethrow_exception(ep);
    } catch (const ApiError& e) {
      send(res, e);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "error: %s\n", e.what());
      send(res, ApiError(500, std::string("Internal server error: ") + e.what(), "", "internal_error"));
    }
  });

  s.Get("/health", [this](const httplib::Request&, httplib::Response& res) {
    if (!ready(res)) return;
    res.set_content("", "text/plain");
  });
  s.Get("/version", [this](const httplib::Request&, httplib::Response& res) {
    send_json(res, {{"version", config_.version}});
  });
  s.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
    if (!ready(res)) return;
    res.set_content(metrics_.load()->render(engine_.load()->stats()), "text/plain; version=0.0.4; charset=utf-8");
  });
  auto model_card = [this](const std::string& name) {
    return Json{{"id", name},
                {"object", "model"},
                {"created", static_cast<int64_t>(std::time(nullptr))},
                {"owned_by", "youzhi"},
                {"root", config_.model_path},
                {"parent", nullptr},
                {"max_model_len", max_model_len_}};
  };
  s.Get("/v1/models", [this, model_card](const httplib::Request&, httplib::Response& res) {
    if (!ready(res)) return;
    Json data = Json::array();
    for (const std::string& n : config_.served_model_names) data.push_back(model_card(n));
    send_json(res, {{"object", "list"}, {"data", data}});
  });
  s.Get(R"(/v1/models/(.+))", [this, model_card](const httplib::Request& req, httplib::Response& res) {
    if (!ready(res)) return;
    check_model(req.matches[1]);
    send_json(res, model_card(req.matches[1]));
  });
  s.Post("/v1/completions", [this](const httplib::Request& req, httplib::Response& res) {
    completions(req, res, Endpoint::kCompletions);
  });
  s.Post("/v1/chat/completions", [this](const httplib::Request& req, httplib::Response& res) {
    completions(req, res, Endpoint::kChat);
  });
  s.Post("/tokenize", [this](const httplib::Request& req, httplib::Response& res) { tokenize(req, res); });
  s.Post("/detokenize", [this](const httplib::Request& req, httplib::Response& res) { detokenize(req, res); });
}

// vLLM's /tokenize: {"count", "max_model_len", "tokens", "token_strs"}.
void OpenAiServer::tokenize(const httplib::Request& req, httplib::Response& res) {
  if (!ready(res)) return;
  const TokenizeRequest r = parse_tokenize_request(req.body);
  check_model(r.model);
  const std::string text = r.chat ? render_chat(r.messages, r.add_generation_prompt, r.chat_template_kwargs) : r.prompt;
  const std::vector<int32_t> ids = tokenizer_.encode(text, r.add_special_tokens);
  send_json(res, {{"count", ids.size()}, {"max_model_len", max_model_len_}, {"tokens", ids},
                  {"token_strs", nullptr}});
}

// vLLM's /detokenize: {"prompt": text}.
void OpenAiServer::detokenize(const httplib::Request& req, httplib::Response& res) {
  if (!ready(res)) return;
  const DetokenizeRequest r = parse_detokenize_request(req.body);
  check_model(r.model);
  for (int32_t id : r.tokens)
    if (id >= vocab_size_)
      throw bad_request("Invalid 'tokens': token id " + std::to_string(id) + " is outside the vocabulary of " +
                            std::to_string(vocab_size_) + ".",
                        "tokens");
  send_json(res, {{"prompt", tokenizer_.decode(r.tokens)}});
}

}  // namespace yz::serve
