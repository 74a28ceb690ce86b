// `youzhi serve`: the OpenAI-compatible server (serve/http_server.h) on one engine. It listens
// first (/health answers 503 while the model loads), prints vLLM's KV-cache startup lines, and
// on SIGTERM or SIGINT stops accepting, lets running requests finish for --shutdown-grace
// seconds, aborts the rest and exits 0.
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <thread>

#include "apps/commands.h"
#include "apps/chat.h"
#include "apps/model_opts.h"
#include "model/causal_lm.h"
#include "serve/async_engine.h"
#include "serve/engine.h"
#include "serve/http_server.h"
#include "util/error.h"
#include "util/text_file.h"

namespace yz::apps {

namespace {

// The chat template behind /v1/chat/completions: --chat-template FILE|chatml, else the model's
// own; none when the model has none, so chat requests get a 400.
std::shared_ptr<const tmpl::ChatTemplate> load_chat_template(const std::string& model_dir,
                                                             const std::string& choice) {
  if (!choice.empty()) return std::make_shared<const tmpl::ChatTemplate>(resolve_chat_template(model_dir, choice));
  std::optional<tmpl::ChatTemplate> t = tmpl::ChatTemplate::from_model_dir(model_dir);
  if (!t) {
    std::printf("No chat template in %s: /v1/chat/completions answers 400 (pass --chat-template)\n",
                model_dir.c_str());
    return nullptr;
  }
  return std::make_shared<const tmpl::ChatTemplate>(std::move(*t));
}

serve::ChatRenderer chat_renderer(std::shared_ptr<const tmpl::ChatTemplate> chat) {
  if (!chat) return nullptr;
  return [chat](const serve::Json& messages, bool add_generation_prompt, const serve::Json& kwargs) {
    return chat->render(messages, nullptr, add_generation_prompt, kwargs).text;
  };
}

// vllm:cache_config_info's labels (vLLM's CacheConfig.metrics_info(), the fields we have).
std::vector<std::pair<std::string, std::string>> cache_info(const serve::Engine& e, double utilization) {
  const serve::KvPoolReport& p = e.pool();
  return {{"block_size", std::to_string(p.block_size)},
          {"cache_dtype", "auto"},
          {"enable_prefix_caching", e.config().enable_prefix_caching ? "True" : "False"},
          {"gpu_memory_utilization", std::to_string(utilization)},
          {"num_cpu_blocks", "None"},
          {"num_gpu_blocks", std::to_string(p.num_blocks)}};
}

}  // namespace

Command add_serve(CLI::App& app) {
  struct Opts {
    std::string model, host = "127.0.0.1", api_key, chat_template, device = "cpu", dtype;
    std::vector<std::string> names;
    int port = 8000;
    serve::EngineConfig engine;
    int64_t max_waiting = 1024;
    double kv_cache_gib = 0, grace_s = 30;
    bool no_prefix_caching = false;
  };
  auto o = std::make_shared<Opts>();
  app.add_option("MODEL", o->model, "Model directory")->required();
  app.add_option("--host", o->host, "Address to listen on");
  app.add_option("--port", o->port, "Port (0: any free port, printed at startup)");
  app.add_option("--served-model-name", o->names, "Name(s) clients use for the model (default: MODEL)");
  app.add_option("--api-key", o->api_key, "Require 'Authorization: Bearer KEY' on /v1 (or YOUZHI_API_KEY)");
  app.add_option("--max-model-len", o->engine.runner.max_model_len,
                 "Prompt + output tokens per request (default: the model's context)");
  app.add_option("--gpu-memory-utilization", o->engine.runner.gpu_memory_utilization,
                 "Fraction of GPU memory for weights, activations and KV cache");
  app.add_option("--kv-cache-memory", o->kv_cache_gib, "KV pool size in GiB (CPU default 4)");
  app.add_option("--max-num-seqs", o->engine.runner.max_num_seqs, "Running requests at most");
  app.add_option("--max-num-batched-tokens", o->engine.runner.max_num_batched_tokens, "Tokens per step at most");
  app.add_option("--max-waiting", o->max_waiting,
                 "Admitted requests beyond --max-num-seqs at most; more get 503 at once");
  app.add_option("--block-size", o->engine.runner.block_size, "Tokens per KV block (16, 32, 64)");
  app.add_flag("--no-prefix-caching", o->no_prefix_caching, "Disable prefix caching");
  app.add_option("--chat-template", o->chat_template, "Chat template file (default: the model's)");
  app.add_option("--shutdown-grace", o->grace_s,
                 "Seconds running requests may take to finish after SIGTERM/SIGINT before they are aborted");
  app.add_option("--device", o->device, "cpu or cuda[:N]");
  app.add_option("--dtype", o->dtype, "Weights and KV cache: float32, bfloat16 (default: bf16 on CUDA)");
  return [o]() {
    YZ_CHECK(o->port >= 0 && o->port < 65536, "--port must be in [0, 65535]");
    YZ_CHECK(o->max_waiting >= 0 && o->grace_s >= 0, "--max-waiting and --shutdown-grace must be >= 0");
    if (o->api_key.empty())
      if (const char* k = std::getenv("YOUZHI_API_KEY")) o->api_key = k;
    // SIGTERM / SIGINT only write to a pipe that this thread reads once the server is up, so a
    // signal during loading is honoured after it, and whichever thread the kernel picks is fine.
    static int signal_pipe[2];
    YZ_CHECK(pipe(signal_pipe) == 0, "cannot create a pipe");
    struct sigaction sa {};
    sa.sa_handler = [](int sig) {
      const char c = static_cast<char>(sig);
      (void)!write(signal_pipe[1], &c, 1);
    };
    sigaction(SIGTERM, &sa, nullptr);
    sigaction(SIGINT, &sa, nullptr);
    signal(SIGPIPE, SIG_IGN);  // a client gone mid-write is an error return, not a signal

    tok::Tokenizer tokenizer = tok::Tokenizer::from_file(o->model);
    serve::ServerConfig sc;
    sc.host = o->host;
    sc.port = o->port;
    sc.served_model_names = o->names.empty() ? std::vector<std::string>{o->model} : o->names;
    sc.model_path = o->model;
    sc.api_key = o->api_key;
    std::shared_ptr<const tmpl::ChatTemplate> chat = load_chat_template(o->model, o->chat_template);
    sc.extra_stop_token_ids = generation_config_eos(o->model);
    if (chat) sc.chat_stop_token_ids = chat_end_tokens(tokenizer, *chat);
    sc.max_connections = o->engine.runner.max_num_seqs + o->max_waiting + 64;
    sc.version = kVersion;
    serve::OpenAiServer server(sc, tokenizer, chat_renderer(chat));
    server.bind();
    std::printf("Listening on http://%s:%d (loading %s)\n", o->host.c_str(), server.port(), o->model.c_str());
    std::fflush(stdout);
    std::thread http([&] { server.run(); });
    // Any failure from here on must still stop the listener before unwinding.
    struct StopOnExit {
      serve::OpenAiServer& s;
      std::thread& t;
      ~StopOnExit() {
        s.stop();
        if (t.joinable()) t.join();
      }
    } stop_on_exit{server, http};

    serve::EngineConfig ec = o->engine;
    ec.runner.model_dir = o->model;
    ec.runner.device = parse_device(o->device);
    ec.runner.dtype = parse_dtype_name(o->dtype.empty() ? (ec.runner.device.is_cuda() ? "bfloat16" : "float32")
                                                        : o->dtype);
    ec.runner.kv_cache_bytes = static_cast<int64_t>(o->kv_cache_gib * (int64_t{1} << 30));
    ec.enable_prefix_caching = !o->no_prefix_caching;
    serve::Engine engine(ec);
    std::printf("%s", engine.startup_report().c_str());
    serve::ServingMetrics metrics(sc.served_model_names[0], engine.pool().max_model_len,
                                  cache_info(engine, ec.runner.gpu_memory_utilization));
    serve::AsyncEngine async(engine, metrics, {ec.runner.max_num_seqs, o->max_waiting});
    server.attach(async, metrics, engine.pool().max_model_len, engine.model_config().vocab_size);
    std::printf("Serving %s as '%s' on http://%s:%d (/v1/completions, /v1/chat/completions, /v1/models, "
                "/health, /metrics, /tokenize, /detokenize, /version)\n",
                o->model.c_str(), sc.served_model_names[0].c_str(), o->host.c_str(), server.port());
    std::fflush(stdout);

    char sig = 0;
    while (read(signal_pipe[0], &sig, 1) != 1) {
    }
    std::printf("Received %s: no new connections; running requests get %.0f s to finish\n",
                sig == SIGTERM ? "SIGTERM" : "SIGINT", o->grace_s);
    std::fflush(stdout);
    server.stop();
    async.drain(std::chrono::milliseconds(static_cast<int64_t>(o->grace_s * 1000)));
    http.join();
    std::printf("Shutdown complete\n");
    return 0;
  };
}

}  // namespace yz::apps
