// `bench serve`'s client side (see bench_serve.h): the dataset, the arrival schedule, a pool
// of request threads (as many as --max-concurrency, like vLLM's semaphore: a request that
// arrives while all are busy waits, and its clock starts when it is sent), and one streamed
// request per sample timed chunk by chunk the way vLLM's async_request_openai_completions does.
#include "serve/bench_serve.h"

#include <httplib.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <fstream>
#include <mutex>
#include <random>
#include <thread>
#include <tuple>

#include "serve/sse.h"
#include "tokenizer/tokenizer.h"
#include "util/error.h"
#include "util/progress.h"

namespace yz::serve {

namespace {

using Json = nlohmann::json;
using Clock = std::chrono::steady_clock;

struct Url {
  std::string origin;  // scheme://host[:port]
  std::string prefix;  // path prefix, no trailing slash
};

Url parse_base_url(const std::string& url) {
  const size_t scheme = url.find("://");
  YZ_CHECK(scheme != std::string::npos && (url.rfind("http://", 0) == 0 || url.rfind("https://", 0) == 0),
           "--base-url '", url, "' must start with http:// or https://");
  const size_t path = url.find('/', scheme + 3);
  Url u{url.substr(0, path), path == std::string::npos ? "" : url.substr(path)};
  while (!u.prefix.empty() && u.prefix.back() == '/') u.prefix.pop_back();
  YZ_CHECK(u.origin.size() > scheme + 3, "--base-url '", url, "' has no host");
  return u;
}

std::unique_ptr<httplib::Client> client(const Url& u, const std::string& api_key) {
  auto c = std::make_unique<httplib::Client>(u.origin);
  YZ_CHECK(c->is_valid(), "cannot make an HTTP client for ", u.origin);
  c->set_connection_timeout(30);
  c->set_read_timeout(6 * 3600);  // vLLM's aiohttp total timeout: 6 hours
  c->set_write_timeout(60);
  c->set_keep_alive(true);
  c->set_tcp_nodelay(true);
  if (!api_key.empty()) c->set_bearer_token_auth(api_key);
  return c;
}

// GET /v1/models: the first model's id and root (vLLM's get_first_model_from_server).
std::pair<std::string, std::string> first_model(const Url& u, const std::string& api_key) {
  auto c = client(u, api_key);
  httplib::Result r = c->Get(u.prefix + "/v1/models");
  YZ_CHECK(r, "cannot reach ", u.origin, u.prefix, "/v1/models: ", httplib::to_string(r.error()));
  YZ_CHECK(r->status == 200, u.origin, u.prefix, "/v1/models answered HTTP ", r->status, ": ", r->body);
  Json j = Json::parse(r->body, nullptr, false);
  YZ_CHECK(j.is_object() && j.contains("data") && j["data"].is_array() && !j["data"].empty() &&
               j["data"][0].contains("id"),
           u.origin, u.prefix, "/v1/models lists no model");
  const Json& m = j["data"][0];
  return {m["id"].get<std::string>(), m.contains("root") && m["root"].is_string() ? m["root"].get<std::string>() : ""};
}

// Random prompts of exactly input_len tokens, uniform over the non-special vocabulary, sent as
// token ids (completions) or as their text (chat).
std::vector<SampleRequest> random_dataset(const BenchServeConfig& c, const tok::Tokenizer& tk) {
  std::vector<int32_t> allowed;
  for (int32_t id = 0; id < tk.vocab_size(); ++id)
    if (!tk.is_special(id)) allowed.push_back(id);
  YZ_CHECK(!allowed.empty(), "the tokenizer has no ordinary tokens");
  std::mt19937_64 rng(c.seed);
  std::uniform_int_distribution<size_t> pick(0, allowed.size() - 1);
  const bool chat = c.endpoint.find("chat") != std::string::npos;
  std::vector<SampleRequest> out;
  for (int64_t i = 0; i < c.num_prompts; ++i) {
    SampleRequest s;
    for (int64_t k = 0; k < c.input_len; ++k) s.prompt_ids.push_back(allowed[pick(rng)]);
    if (chat) {
      s.prompt = tk.decode(s.prompt_ids);
      s.prompt_ids.clear();
    }
    s.prompt_len = c.input_len;
    s.output_len = c.output_len;
    out.push_back(std::move(s));
  }
  return out;
}

// One JSON object per line: {"prompt": text or ids} or {"messages": [...]}, optionally with
// "output_len" (or "max_tokens"); --output-len otherwise. Cycled when shorter than
// --num-prompts (vLLM oversamples the same way).
std::vector<SampleRequest> file_dataset(const BenchServeConfig& c, const tok::Tokenizer* tk) {
  std::ifstream f(c.dataset);
  YZ_CHECK(f, c.dataset, ": cannot open the dataset");
  std::vector<SampleRequest> rows;
  std::string text;
  for (int64_t n = 1; std::getline(f, text); ++n) {
    if (text.find_first_not_of(" \t\r") == std::string::npos) continue;
    Json j = Json::parse(text, nullptr, false);
    YZ_CHECK(j.is_object(), c.dataset, ":", n, ": not a JSON object");
    SampleRequest s;
    if (j.contains("messages")) {
      YZ_CHECK(j["messages"].is_array(), c.dataset, ":", n, ": 'messages' must be an array");
      s.messages = j["messages"];
    } else {
      YZ_CHECK(j.contains("prompt"), c.dataset, ":", n, ": needs 'prompt' or 'messages'");
      if (j["prompt"].is_string()) {
        s.prompt = j["prompt"].get<std::string>();
        if (tk != nullptr) s.prompt_len = static_cast<int64_t>(tk->encode(s.prompt).size());
      } else {
        YZ_CHECK(j["prompt"].is_array(), c.dataset, ":", n, ": 'prompt' must be a string or token ids");
        for (const Json& x : j["prompt"]) {
          YZ_CHECK(x.is_number_integer(), c.dataset, ":", n, ": 'prompt' ids must be integers");
          s.prompt_ids.push_back(x.get<int32_t>());
        }
        s.prompt_len = static_cast<int64_t>(s.prompt_ids.size());
      }
    }
    s.output_len = c.output_len;
    for (const char* key : {"output_len", "max_tokens"})
      if (j.contains(key)) {
        YZ_CHECK(j[key].is_number_integer() && j[key].get<int64_t>() > 0, c.dataset, ":", n, ": '", key,
                 "' must be a positive integer");
        s.output_len = j[key].get<int64_t>();
      }
    rows.push_back(std::move(s));
  }
  YZ_CHECK(!rows.empty(), c.dataset, ": no requests");
  std::vector<SampleRequest> out;
  for (int64_t i = 0; i < c.num_prompts; ++i) out.push_back(rows[i % rows.size()]);
  return out;
}

Json payload(const BenchServeConfig& c, const std::string& model, const SampleRequest& s) {
  Json p = {{"model", model}, {"stream", true}, {"stream_options", {{"include_usage", true}}}};
  if (c.endpoint.find("chat") != std::string::npos) {
    p["messages"] = s.messages.is_array() ? s.messages : Json::array({{{"role", "user"}, {"content", s.prompt}}});
    p["max_completion_tokens"] = s.output_len;
  } else {
    YZ_CHECK(!s.messages.is_array(), "a dataset with 'messages' needs --endpoint /v1/chat/completions");
    p["prompt"] = s.prompt_ids.empty() ? Json(s.prompt) : Json(s.prompt_ids);
    p["max_tokens"] = s.output_len;
  }
  if (c.ignore_eos) p["ignore_eos"] = true;
  p["temperature"] = c.temperature;
  return p;
}

// One streamed request, timed per chunk: TTFT at the first chunk with choices, ITL between
// later ones, latency at the last one; token counts from the usage chunk.
RequestOutput send_one(httplib::Client& cli, const Url& u, const BenchServeConfig& c, const std::string& body,
                       const SampleRequest& s, const tok::Tokenizer* tk, Clock::time_point t0) {
  RequestOutput out;
  out.prompt_len = s.prompt_len;
  const Clock::time_point st = Clock::now();
  out.start_time = std::chrono::duration<double>(st - t0).count();
  Clock::time_point last = st;
  const bool chat = c.endpoint.find("chat") != std::string::npos;
  int status = 0, chunks = 0;
  std::string error_body;
  SseParser sse;
  auto on_event = [&](const std::string& data) {
    if (data == "[DONE]" || !out.error.empty()) return;
    Json j = Json::parse(data, nullptr, false);
    if (!j.is_object()) {
      out.error = "invalid JSON in the stream: " + data.substr(0, 200);
      return;
    }
    if (j.contains("error")) {
      out.error = "error event: " + j["error"].dump();
      return;
    }
    if (j.contains("choices") && j["choices"].is_array() && !j["choices"].empty()) {
      const Clock::time_point now = Clock::now();
      if (chunks++ == 0)
        out.ttft = std::chrono::duration<double>(now - st).count();
      else
        out.itl.push_back(std::chrono::duration<double>(now - last).count());
      last = now;
      const Json& ch = j["choices"][0];
      const Json* text = chat ? (ch.contains("delta") ? &ch["delta"] : nullptr) : &ch;
      const char* key = chat ? "content" : "text";
      if (text != nullptr && text->contains(key) && (*text)[key].is_string())
        out.generated_text += (*text)[key].get<std::string>();
    } else if (j.contains("usage") && j["usage"].is_object()) {
      const Json& usage = j["usage"];
      if (usage.contains("completion_tokens") && usage["completion_tokens"].is_number_integer())
        out.output_tokens = usage["completion_tokens"].get<int64_t>();
      if (usage.contains("prompt_tokens") && usage["prompt_tokens"].is_number_integer())
        out.prompt_len = usage["prompt_tokens"].get<int64_t>();
    }
  };
  httplib::Request req;
  req.method = "POST";
  req.path = u.prefix + c.endpoint;
  req.body = body;
  req.set_header("Content-Type", "application/json");
  req.response_handler = [&](const httplib::Response& r) {
    status = r.status;
    return true;
  };
  req.content_receiver = [&](const char* data, size_t size, uint64_t, uint64_t) {
    if (status != 200) {
      error_body.append(data, std::min<size_t>(size, 4096 - std::min<size_t>(error_body.size(), 4096)));
      return true;
    }
    for (const std::string& e : sse.feed(data, size)) on_event(e);
    return true;
  };
  httplib::Response res;
  httplib::Error err = httplib::Error::Success;
  const bool sent = cli.send(req, res, err);
  for (const std::string& e : sse.finish()) on_event(e);
  if (!sent) {
    out.error = "connection error: " + httplib::to_string(err);
  } else if (status != 200) {
    out.error = "HTTP " + std::to_string(status) + ": " + error_body;
  } else if (out.error.empty() && chunks == 0) {
    out.error = "Never received a valid chunk to calculate TTFT.";
  }
  out.success = out.error.empty();
  out.latency = std::chrono::duration<double>(last - st).count();
  // Servers that send no usage: count the text's tokens (vLLM does the same), else the chunks.
  if (out.success && out.output_tokens == 0)
    out.output_tokens = tk != nullptr ? static_cast<int64_t>(tk->encode(out.generated_text, false).size()) : chunks;
  return out;
}

}  // namespace

nlohmann::ordered_json run_bench_serve(const BenchServeConfig& c) {
  YZ_CHECK(c.num_prompts > 0 && c.input_len > 0 && c.output_len > 0,
           "--num-prompts, --input-len and --output-len must be positive");
  YZ_CHECK(c.request_rate > 0, "--request-rate must be positive (or inf)");
  YZ_CHECK(c.burstiness > 0, "--burstiness must be positive");
  YZ_CHECK(c.max_concurrency >= 0, "--max-concurrency must be positive");
  YZ_CHECK(c.temperature >= 0 && c.temperature <= 2, "--temperature must be in [0, 2] (OpenAI's range), got ", c.temperature);
  for (const auto& [name, v] : c.goodput)
    YZ_CHECK((name == "ttft" || name == "tpot" || name == "e2el") && v >= 0, "--goodput ", name, ":", v,
             ": SLOs are ttft, tpot or e2el with a non-negative value in ms");
  const Url url = parse_base_url(c.base_url);
  std::string model = c.model, root;
  if (model.empty()) {
    std::tie(model, root) = first_model(url, c.api_key);
    if (c.verbose) std::printf("Model not specified, using the server's first model: %s\n", model.c_str());
  }
  // The tokenizer: --tokenizer, else the served model's directory when it is local.
  std::unique_ptr<tok::Tokenizer> tk;
  std::string tk_path = c.tokenizer;
  if (tk_path.empty() && !root.empty() && fs::exists(fs::path(root) / "tokenizer.json")) tk_path = root;
  if (!tk_path.empty()) tk = std::make_unique<tok::Tokenizer>(tok::Tokenizer::from_file(tk_path));
  std::vector<SampleRequest> samples;
  if (c.dataset == "random") {
    YZ_CHECK(tk != nullptr, "--dataset random needs the model's tokenizer: pass --tokenizer (tokenizer.json or the "
                            "model directory)");
    samples = random_dataset(c, *tk);
  } else {
    samples = file_dataset(c, tk.get());
  }
  std::vector<std::string> bodies;
  for (const SampleRequest& s : samples) bodies.push_back(payload(c, model, s).dump(-1, ' ', false, Json::error_handler_t::replace));
  const std::vector<double> arrivals = arrival_times(c.num_prompts, c.request_rate, c.burstiness, c.seed);

  char rate[32];
  std::snprintf(rate, sizeof rate, "%g", c.request_rate);
  if (c.verbose)
    std::printf("Traffic request rate: %s\nBurstiness factor: %g (%s)\nMaximum request concurrency: %s\n",
              std::isinf(c.request_rate) ? "inf" : rate, c.burstiness,
              c.burstiness == 1.0 ? "Poisson process" : "Gamma distribution",
              c.max_concurrency > 0 ? std::to_string(c.max_concurrency).c_str() : "None");
  std::fflush(stdout);

  // Requests wait in arrival order for a free sender (vLLM's semaphore), then run.
  std::mutex mu;
  std::condition_variable cv;
  std::deque<size_t> ready;
  bool all_arrived = false;
  std::vector<RequestOutput> outputs(samples.size());
  Progress bar("bench serve", c.num_prompts, "req", c.verbose);
  const size_t senders = static_cast<size_t>(c.max_concurrency > 0 ? std::min(c.max_concurrency, c.num_prompts)
                                                                  : c.num_prompts);
  const Clock::time_point t0 = Clock::now();
  std::vector<std::thread> pool;
  for (size_t w = 0; w < senders; ++w)
    pool.emplace_back([&] {
      std::unique_ptr<httplib::Client> cli = client(url, c.api_key);
      for (;;) {
        size_t i;
        {
          std::unique_lock<std::mutex> lock(mu);
          cv.wait(lock, [&] { return !ready.empty() || all_arrived; });
          if (ready.empty()) return;
          i = ready.front();
          ready.pop_front();
        }
        outputs[i] = send_one(*cli, url, c, bodies[i], samples[i], tk.get(), t0);
        std::lock_guard<std::mutex> lock(mu);
        bar.add(1);
      }
    });
  for (size_t i = 0; i < samples.size(); ++i) {
    std::this_thread::sleep_until(t0 + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(arrivals[i])));
    std::lock_guard<std::mutex> lock(mu);
    ready.push_back(i);
    cv.notify_one();
  }
  {
    std::lock_guard<std::mutex> lock(mu);
    all_arrived = true;
  }
  cv.notify_all();
  for (std::thread& t : pool) t.join();
  const double duration = std::chrono::duration<double>(Clock::now() - t0).count();
  bar.finish();

  nlohmann::ordered_json r = bench_metrics(outputs, duration, c);
  nlohmann::ordered_json j = {{"benchmark", "serve"},
                              {"base_url", c.base_url},
                              {"endpoint", c.endpoint},
                              {"model", model},
                              {"dataset", c.dataset},
                              {"num_prompts", c.num_prompts},
                              {"request_rate", std::isinf(c.request_rate) ? nlohmann::ordered_json("inf")
                                                                          : nlohmann::ordered_json(c.request_rate)},
                              {"burstiness", c.burstiness},
                              {"max_concurrency", c.max_concurrency > 0 ? nlohmann::ordered_json(c.max_concurrency)
                                                                        : nlohmann::ordered_json()}};
  if (c.dataset == "random") {
    j["input_len"] = c.input_len;
    j["output_len"] = c.output_len;
  }
  if (!c.goodput.empty()) j["goodput_slo_ms"] = c.goodput;
  j.update(r);
  return j;
}

}  // namespace yz::serve
