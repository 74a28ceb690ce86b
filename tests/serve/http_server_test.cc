// The HTTP server end to end over real sockets, on the scripted engine (which echoes each
// prompt back token by token) and the bundled model's tokenizer: JSON and SSE responses of
// both endpoints, usage, logprobs, stop strings and stop tokens, /health before and after the
// model is attached, the other endpoints, every error status as an OpenAI error object, a
// full waiting queue answered at once, and a client that disconnects mid-stream having its
// request aborted.
#include <gtest/gtest.h>
#include <httplib.h>

#include <thread>

#include "scripted_engine.h"
#include "serve/http_server.h"
#include "serve/sse.h"
#include "test_util.h"
#include "template/chat_template.h"

namespace yz::serve {
namespace {

using std::chrono::milliseconds;

const tok::Tokenizer& tokenizer() {
  static const tok::Tokenizer tk = tok::Tokenizer::from_file(yz::test::source_dir() / "models" / "yz-qwen2-gqa-16m");
  return tk;
}

// The built-in ChatML template (the bundled model's own is ChatML too).
ChatRenderer chatml() {
  auto t = std::make_shared<const tmpl::ChatTemplate>(tmpl::ChatTemplate::chatml(
      tmpl::ChatTemplate::read_tokenizer_config(yz::test::source_dir() / "models" / "yz-qwen2-gqa-16m")));
  return [t](const Json& messages, bool add_generation_prompt, const Json& kwargs) {
    return t->render(messages, nullptr, add_generation_prompt, kwargs).text;
  };
}

struct Harness {
  explicit Harness(ServerConfig config = {}, AsyncEngineConfig limits = {8, 8}, int64_t max_model_len = 512)
      : engine(limits.max_num_seqs),
        metrics("yz", max_model_len, {{"block_size", "16"}}),
        async(engine, metrics, limits),
        server(with_defaults(std::move(config)), tokenizer(), chatml()) {
    server.bind();
    http = std::thread([this] { server.run(); });
    server.attach(async, metrics, max_model_len, tokenizer().vocab_size());
  }
  ~Harness() {
    server.stop();
    http.join();
  }
  static ServerConfig with_defaults(ServerConfig c) {
    c.port = 0;
    c.served_model_names = {"yz", "alias"};
    c.model_path = "/models/yz";
    c.chat_stop_token_ids = {*tokenizer().token_to_id("<|im_end|>")};
    c.version = "0.1";
    return c;
  }
  httplib::Client client() {
    httplib::Client c("127.0.0.1", server.port());
    c.set_read_timeout(30);
    return c;
  }

  test::ScriptedEngine engine;
  ServingMetrics metrics;
  AsyncEngine async;
  OpenAiServer server;
  std::thread http;
};

// POSTs and returns (status, SSE data events or the whole body). `stop_after`: close the
// connection after that many events (a client going away).
std::pair<int, std::vector<std::string>> post(httplib::Client& cli, const std::string& path, const std::string& body,
                                              int stop_after = -1) {
  httplib::Request req;
  req.method = "POST";
  req.path = path;
  req.body = body;
  req.set_header("Content-Type", "application/json");
  int status = 0;
  std::string raw;
  std::vector<std::string> events;
  SseParser sse;
  req.response_handler = [&](const httplib::Response& r) {
    status = r.status;
    return true;
  };
  req.content_receiver = [&](const char* d, size_t n, uint64_t, uint64_t) {
    raw.append(d, n);
    for (std::string& e : sse.feed(d, n)) events.push_back(std::move(e));
    return stop_after < 0 || static_cast<int>(events.size()) < stop_after;
  };
  httplib::Response res;
  httplib::Error err;
  cli.send(req, res, err);
  if (events.empty()) events.push_back(raw);
  return {status, events};
}

Json error_of(const std::string& body) { return Json::parse(body)["error"]; }

TEST(HttpServer, CompletionsJsonAndStream) {
  Harness h;
  httplib::Client cli = h.client();
  const std::string text = "The Federal Reserve raised interest rates";
  const int64_t n = static_cast<int64_t>(tokenizer().encode(text).size());
  auto [status, body] = post(cli, "/v1/completions",
                             Json{{"model", "alias"}, {"prompt", text}, {"max_tokens", n}, {"temperature", 0}}.dump());
  ASSERT_EQ(status, 200) << body[0];
  Json j = Json::parse(body[0]);
  EXPECT_EQ(j["object"], "text_completion");
  EXPECT_EQ(j["model"], "alias");
  EXPECT_EQ(j["id"].get<std::string>().rfind("cmpl-", 0), 0u);
  EXPECT_EQ(j["choices"][0]["text"], text);  // the scripted engine echoes the prompt
  EXPECT_EQ(j["choices"][0]["finish_reason"], "length");
  EXPECT_EQ(j["usage"], (Json{{"prompt_tokens", n}, {"completion_tokens", n}, {"total_tokens", 2 * n},
                              {"prompt_tokens_details", {{"cached_tokens", 0}}}}));

  auto [s2, events] = post(cli, "/v1/completions",
                           Json{{"prompt", text}, {"max_tokens", n}, {"stream", true},
                                {"stream_options", {{"include_usage", true}}}}.dump());
  ASSERT_EQ(s2, 200);
  ASSERT_EQ(events.size(), static_cast<size_t>(n + 2));  // one chunk per token, usage, [DONE]
  EXPECT_EQ(events.back(), "[DONE]");
  std::string streamed;
  for (int64_t i = 0; i < n; ++i) {
    Json c = Json::parse(events[i]);
    EXPECT_EQ(c["object"], "text_completion");
    EXPECT_TRUE(c["usage"].is_null());
    streamed += c["choices"][0]["text"].get<std::string>();
    EXPECT_EQ(c["choices"][0]["finish_reason"], i + 1 == n ? Json("length") : Json());
  }
  EXPECT_EQ(streamed, text);
  Json usage = Json::parse(events[n]);
  EXPECT_TRUE(usage["choices"].empty());
  EXPECT_EQ(usage["usage"]["completion_tokens"], n);
}

TEST(HttpServer, ChatStreamStopsAtTheEndOfTurnToken) {
  Harness h;
  httplib::Client cli = h.client();
  // The echoed prompt is "<|im_start|>user\nHi there<|im_end|>...": generation stops at <|im_end|>.
  auto [status, events] = post(cli, "/v1/chat/completions",
                               Json{{"messages", {{{"role", "user"}, {"content", "Hi there"}}}},
                                    {"stream", true}, {"logprobs", true}, {"top_logprobs", 2}}.dump());
  ASSERT_EQ(status, 200) << events[0];
  EXPECT_EQ(events.back(), "[DONE]");
  std::string content;
  for (size_t i = 0; i + 1 < events.size(); ++i) {
    Json c = Json::parse(events[i]);
    EXPECT_EQ(c["object"], "chat.completion.chunk");
    EXPECT_EQ(c["choices"][0]["delta"].contains("role"), i == 0);
    content += c["choices"][0]["delta"]["content"].get<std::string>();
    ASSERT_EQ(c["choices"][0]["logprobs"]["content"].size(), 1u);
    EXPECT_EQ(c["choices"][0]["logprobs"]["content"][0]["top_logprobs"].size(), 2u);
    if (i + 2 == events.size()) {
      EXPECT_EQ(c["choices"][0]["finish_reason"], "stop");
    }
  }
  EXPECT_EQ(content, "user\nHi there");  // special tokens skipped; <|im_end|> ended it
  auto [s2, body] = post(cli, "/v1/chat/completions",
                         Json{{"messages", {{{"role", "user"}, {"content", "Hi"}}}}, {"max_completion_tokens", 3}}.dump());
  ASSERT_EQ(s2, 200);
  Json j = Json::parse(body[0]);
  EXPECT_EQ(j["object"], "chat.completion");
  EXPECT_EQ(j["choices"][0]["message"], (Json{{"role", "assistant"}, {"content", "user\n"}}));
  EXPECT_EQ(j["choices"][0]["finish_reason"], "length");
  EXPECT_EQ(j["usage"]["completion_tokens"], 3);
}

TEST(HttpServer, StopStringEndsTheRequestInTheEngine) {
  Harness h;
  h.engine.set_step_delay(milliseconds(5));  // the echo must not run out before the stop is seen
  httplib::Client cli = h.client();
  auto [status, body] = post(cli, "/v1/completions",
                             Json{{"prompt", "alpha beta STOP gamma delta"}, {"max_tokens", 50}, {"stop", "STOP"},
                                  {"logprobs", 1}}.dump());
  ASSERT_EQ(status, 200);
  Json j = Json::parse(body[0]);
  EXPECT_EQ(j["choices"][0]["text"], "alpha beta ");
  EXPECT_EQ(j["choices"][0]["finish_reason"], "stop");
  const Json& lp = j["choices"][0]["logprobs"];
  const size_t used = j["usage"]["completion_tokens"];
  EXPECT_EQ(lp["tokens"].size(), used);
  EXPECT_EQ(lp["token_logprobs"].size(), used);
  EXPECT_EQ(lp["top_logprobs"][0].size(), 1u);  // the one alternative is the chosen token
  EXPECT_EQ(lp["text_offset"][0], 0);
  EXPECT_LT(used, 50u);
  for (int i = 0; i < 100 && h.engine.live() > 0; ++i) std::this_thread::sleep_for(milliseconds(10));
  ASSERT_EQ(h.engine.ended().size(), 1u);
  EXPECT_EQ(h.engine.ended().begin()->second, FinishReason::kStop);  // the engine stopped generating
}

TEST(HttpServer, HealthModelsTokenizeMetricsVersion) {
  ServerConfig c = Harness::with_defaults({});
  test::ScriptedEngine engine;
  ServingMetrics metrics("yz", 512, {});
  AsyncEngine async(engine, metrics, {8, 8});
  OpenAiServer server(c, tokenizer(), chatml());
  server.bind();
  std::thread http([&] { server.run(); });
  httplib::Client cli("127.0.0.1", server.port());
  auto loading = cli.Get("/health");
  ASSERT_TRUE(loading);
  EXPECT_EQ(loading->status, 503);  // not before the model is attached
  EXPECT_EQ(error_of(loading->body)["code"], "model_loading");
  EXPECT_EQ(cli.Get("/v1/models")->status, 503);
  EXPECT_EQ(Json::parse(cli.Get("/version")->body)["version"], "0.1");
  server.attach(async, metrics, 512, tokenizer().vocab_size());
  EXPECT_EQ(cli.Get("/health")->status, 200);
  Json models = Json::parse(cli.Get("/v1/models")->body);
  EXPECT_EQ(models["data"].size(), 2u);
  EXPECT_EQ(models["data"][0]["id"], "yz");
  EXPECT_EQ(models["data"][0]["root"], "/models/yz");
  EXPECT_EQ(models["data"][0]["max_model_len"], 512);
  EXPECT_EQ(Json::parse(cli.Get("/v1/models/alias")->body)["id"], "alias");
  EXPECT_EQ(cli.Get("/v1/models/nope")->status, 404);
  auto tok = cli.Post("/tokenize", R"({"prompt": "interest rates"})", "application/json");
  Json t = Json::parse(tok->body);
  EXPECT_EQ(t["tokens"], tokenizer().encode("interest rates"));
  EXPECT_EQ(t["count"], t["tokens"].size());
  EXPECT_EQ(t["max_model_len"], 512);
  auto detok = cli.Post("/detokenize", Json{{"tokens", t["tokens"]}}.dump(), "application/json");
  EXPECT_EQ(Json::parse(detok->body)["prompt"], "interest rates");
  auto chat_tok = cli.Post("/tokenize", R"({"messages": [{"role": "user", "content": "x"}]})", "application/json");
  EXPECT_EQ(Json::parse(chat_tok->body)["tokens"],
            tokenizer().encode("<|im_start|>user\nx<|im_end|>\n<|im_start|>assistant\n", false));
  EXPECT_EQ(cli.Post("/detokenize", R"({"tokens": [99999999]})", "application/json")->status, 400);
  auto m = cli.Get("/metrics");
  EXPECT_EQ(m->status, 200);
  for (const char* name : {"vllm:num_requests_running", "vllm:num_requests_waiting", "vllm:kv_cache_usage_perc",
                           "vllm:prompt_tokens_total", "vllm:generation_tokens_total",
                           "vllm:time_to_first_token_seconds_bucket", "vllm:inter_token_latency_seconds_bucket",
                           "vllm:e2e_request_latency_seconds_bucket", "vllm:cache_config_info"})
    EXPECT_NE(m->body.find(name), std::string::npos) << name;
  server.stop();
  http.join();
}

TEST(HttpServer, ErrorsAreOpenAiErrorObjects) {
  ServerConfig c;
  c.api_key = "sk-test";
  c.max_body_bytes = 4096;
  Harness h(c, {8, 8}, /*max_model_len=*/16);
  httplib::Client cli = h.client();
  EXPECT_EQ(cli.Get("/health")->status, 200);  // no key needed outside /v1
  auto no_key = cli.Get("/v1/models");
  EXPECT_EQ(no_key->status, 401);
  EXPECT_EQ(error_of(no_key->body)["code"], "invalid_api_key");
  cli.set_bearer_token_auth("sk-wrong");
  EXPECT_EQ(cli.Get("/v1/models")->status, 401);
  cli.set_bearer_token_auth("sk-test");
  EXPECT_EQ(cli.Get("/v1/models")->status, 200);

  struct Case {
    const char* path;
    std::string body;
    int status;
    const char* code;
  };
  const Case cases[] = {
      {"/v1/completions", "{not json", 400, "invalid_json"},
      {"/v1/completions", R"({"prompt": "a", "temperature": "x"})", 400, "invalid_type"},
      {"/v1/completions", R"({"prompt": "a", "frobnicate": true})", 400, "unrecognized_argument"},
      {"/v1/completions", R"({"prompt": "a", "model": "gpt-4"})", 404, "model_not_found"},
      {"/v1/completions", R"({"prompt": "a b c d e f g h i j k l m n o p q"})", 400, "context_length_exceeded"},
      {"/v1/completions", R"({"prompt": [1, 2, 9999999]})", 400, "invalid_value"},
      {"/v1/completions", R"({"prompt": ""})", 400, "invalid_value"},
      {"/v1/chat/completions", R"({"messages": [{"role": "user"}]})", 400, "missing_required_parameter"},
      {"/v1/completions", std::string(5000, ' '), 413, ""},
      {"/v1/nope", "{}", 404, "unknown_url"},
  };
  for (const Case& k : cases) {
    SCOPED_TRACE(k.body.substr(0, 80));
    auto r = cli.Post(k.path, k.body, "application/json");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, k.status);
    EXPECT_EQ(r->get_header_value("Content-Type"), "application/json");
    const Json e = error_of(r->body);
    EXPECT_EQ(e["code"], k.code[0] ? Json(k.code) : Json());
    EXPECT_EQ(e["type"], "invalid_request_error");
  }
  EXPECT_EQ(h.engine.steps(), 0);  // nothing reached the engine
}

TEST(HttpServer, FullQueueIsRefusedAtOnceAndDisconnectsAbort) {
  Harness h({}, {/*max_num_seqs=*/1, /*max_waiting=*/0});
  h.engine.set_step_delay(milliseconds(5));
  std::thread busy([&] {
    httplib::Client cli = h.client();
    // Reads 3 chunks, then goes away without a word.
    auto [status, events] = post(cli, "/v1/completions",
                                 Json{{"prompt", "one two three four"}, {"max_tokens", 400}, {"stream", true}}.dump(),
                                 /*stop_after=*/3);
    EXPECT_EQ(status, 200);
  });
  for (int i = 0; i < 5000 && h.engine.steps() == 0; ++i) std::this_thread::sleep_for(milliseconds(1));
  if (h.engine.steps() == 0) {
    busy.join();
    FAIL() << "the streaming request never reached the engine";
  }
  httplib::Client cli = h.client();
  const auto t0 = std::chrono::steady_clock::now();
  auto full = cli.Post("/v1/completions", R"({"prompt": "x"})", "application/json");
  EXPECT_LT(std::chrono::steady_clock::now() - t0, milliseconds(500));
  ASSERT_TRUE(full);
  if (h.async.in_flight() == 1) {  // the streaming request is still running
    EXPECT_EQ(full->status, 503);
    EXPECT_EQ(full->get_header_value("Retry-After"), "1");
    EXPECT_EQ(error_of(full->body)["code"], "server_overloaded");
    EXPECT_EQ(error_of(full->body)["type"], "server_error");
  }
  busy.join();
  // The disconnect is noticed and the request aborted: its blocks are freed.
  for (int i = 0; i < 300 && h.engine.live() > 0; ++i) std::this_thread::sleep_for(milliseconds(10));
  EXPECT_EQ(h.engine.live(), 0);
  ASSERT_EQ(h.engine.ended().size(), 1u);
  EXPECT_EQ(h.engine.ended().begin()->second, FinishReason::kAbort);
  EXPECT_EQ(h.async.in_flight(), 0);
}

}  // namespace
}  // namespace yz::serve
