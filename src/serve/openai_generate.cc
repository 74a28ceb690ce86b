// POST /v1/completions and /v1/chat/completions (see http_server.h): the request is parsed,
// tokenized (chat through the template) and checked against the context, admitted by the
// AsyncEngine, and answered by a Generation that turns engine outputs into OpenAI JSON or SSE
// chunks, one chunk per generated token as vLLM sends them. The response body is written by a
// chunked content provider in both modes, so that a client going away is noticed while its
// request runs (and the request aborted) even when it asked for one JSON object at the end.
#include <httplib.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <random>

#include "serve/http_server.h"
#include "serve/output_text.h"

namespace yz::serve {

namespace {

using Clock = std::chrono::steady_clock;

// How often a waiting request checks that its client is still connected.
constexpr std::chrono::milliseconds kClientCheck{20};

std::string dump(const Json& j) { return j.dump(-1, ' ', false, Json::error_handler_t::replace); }

// A seed for requests that bring none: distinct per request, different across runs.
uint64_t fresh_seed() {
  static std::atomic<uint64_t> state{std::random_device{}() * 0x9e3779b97f4a7c15ull};
  uint64_t z = state.fetch_add(0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

int64_t utf8_length(const std::string& s) {
  int64_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

// One request from admission to its last byte. Owned by the response's content provider; if it
// dies before the engine finished the request (client gone, write failed), it aborts it.
class Generation {
 public:
  Generation(AsyncEngine& engine, std::shared_ptr<RequestStream> stream, const tok::Tokenizer& tokenizer,
             const GenerateRequest& r, std::string model, int64_t prompt_tokens)
      : engine_(engine),
        stream_(std::move(stream)),
        tokenizer_(tokenizer),
        endpoint_(r.endpoint),
        streaming_(r.stream),
        include_usage_(r.include_usage),
        logprobs_(r.logprobs),
        model_(std::move(model)),
        created_(static_cast<int64_t>(std::time(nullptr))),
        prompt_tokens_(prompt_tokens),
        text_(tokenizer, r.skip_special_tokens, r.stop, r.include_stop_str_in_output) {}

  ~Generation() {
    if (!done_) engine_.finish(stream_->id(), FinishReason::kAbort);
  }

  // The content provider: runs until the request ends or the client is gone.
  bool run(httplib::DataSink& sink) {
    try {
      return serve(sink);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "error: request %s: %s\n", stream_->id().c_str(), e.what());
      return false;  // the connection is closed; the destructor aborts the request
    }
  }

 private:
  bool serve(httplib::DataSink& sink) {
    Clock::time_point checked = Clock::now();
    std::vector<StepOutput> outputs;
    while (!done_) {
      outputs.clear();
      const bool got = stream_->next(&outputs, kClientCheck);
      if (Clock::now() - checked >= kClientCheck) {
        if (!sink.is_writable()) return false;
        checked = Clock::now();
      }
      if (!got) continue;
      const std::string failure = stream_->failure();
      if (!failure.empty() && outputs.empty()) return fail(sink, failure);
      std::string events;
      for (const StepOutput& o : outputs) {
        if (done_) break;
        on_output(o, &events);
      }
      if (done_ && streaming_) {
        if (include_usage_) events += event(usage_chunk());
        events += "data: [DONE]\n\n";
      }
      if (done_ && !streaming_) events = dump(final_response());
      if (!events.empty() && !sink.write(events.data(), events.size())) return false;
    }
    sink.done();
    return true;
  }

  // Appends the SSE events of one engine output (streaming) or accumulates it.
  void on_output(const StepOutput& o, std::string* events) {
    cached_tokens_ = o.cached_tokens;
    std::string delta;
    Json lp = Json::array();
    for (size_t i = 0; i < o.tokens.size(); ++i) {
      const SampledToken& t = o.tokens[i];
      ++completion_tokens_;
      const int64_t offset = utf8_length(text_.text());
      const bool stop_token = o.finished && o.reason == FinishReason::kStop && i + 1 == o.tokens.size();
      delta += text_.add(t.token, stop_token);
      if (logprobs_ >= 0) lp.push_back(logprob_entry(t, i < o.top.size() ? o.top[i] : std::vector<SampledToken>(), offset));
      if (text_.stopped()) {
        // A stop string matched: end here, and stop the engine from generating on.
        finish_ = FinishReason::kStop;
        engine_.finish(stream_->id(), FinishReason::kStop);
        done_ = true;
        break;
      }
    }
    if (!done_ && o.finished) {
      delta += text_.finish();
      finish_ = o.reason;
      done_ = true;
    }
    for (Json& e : lp) logprob_items_.push_back(e);
    if (streaming_) *events += event(chunk(delta, lp));
  }

  Json chunk_base(Json choices) const {
    Json j = {{"id", stream_->id()},
              {"object", endpoint_ == Endpoint::kChat ? "chat.completion.chunk" : "text_completion"},
              {"created", created_},
              {"model", model_},
              {"choices", std::move(choices)}};
    if (include_usage_) j["usage"] = nullptr;
    return j;
  }

  // One streamed chunk: this step's text, its log-probabilities, and the finish reason once done.
  Json chunk(const std::string& delta, const Json& lp) {
    Json choice = {{"index", 0}};
    if (endpoint_ == Endpoint::kChat) {
      Json d = Json::object();
      if (first_chunk_) d["role"] = "assistant";
      d["content"] = delta;
      choice["delta"] = d;
    } else {
      choice["text"] = delta;
    }
    first_chunk_ = false;
    choice["logprobs"] = logprobs_ >= 0 ? logprobs_json(lp) : Json();
    choice["finish_reason"] = done_ ? Json(finish_reason_name(finish_)) : Json();
    return chunk_base(Json::array({choice}));
  }

  Json usage_chunk() const {
    Json j = chunk_base(Json::array());
    j["usage"] = usage();
    return j;
  }

  Json usage() const {
    return {{"prompt_tokens", prompt_tokens_},
            {"completion_tokens", completion_tokens_},
            {"total_tokens", prompt_tokens_ + completion_tokens_},
            {"prompt_tokens_details", {{"cached_tokens", cached_tokens_}}}};
  }

  Json final_response() const {
    Json choice = {{"index", 0}};
    if (endpoint_ == Endpoint::kChat)
      choice["message"] = {{"role", "assistant"}, {"content", text_.text()}};
    else
      choice["text"] = text_.text();
    choice["logprobs"] = logprobs_ >= 0 ? logprobs_json(logprob_items_) : Json();
    choice["finish_reason"] = finish_reason_name(finish_);
    return {{"id", stream_->id()},
            {"object", endpoint_ == Endpoint::kChat ? "chat.completion" : "text_completion"},
            {"created", created_},
            {"model", model_},
            {"choices", Json::array({choice})},
            {"usage", usage()}};
  }

  // A token's entry in our own form: {token, logprob, top: [[token, logprob]...], offset}.
  // An id past the tokenizer (a padded embedding row) has no text: "".
  Json logprob_entry(const SampledToken& t, const std::vector<SampledToken>& top, int64_t offset) const {
    auto text = [&](int32_t id) { return tokenizer_.has_id(id) ? tokenizer_.decode({id}) : std::string(); };
    Json alternatives = Json::array();
    for (const SampledToken& a : top) alternatives.push_back({text(a.token), a.logprob});
    return {{"token", text(t.token)}, {"logprob", t.logprob}, {"top", alternatives}, {"offset", offset}};
  }

  static Json bytes(const std::string& s) {
    Json b = Json::array();
    for (unsigned char c : s) b.push_back(static_cast<int>(c));
    return b;
  }

  // OpenAI's two logprobs layouts: chat {"content": [{token, logprob, bytes, top_logprobs}]},
  // completions {tokens, token_logprobs, top_logprobs: [{token: logprob}], text_offset}.
  Json logprobs_json(const Json& items) const {
    if (endpoint_ == Endpoint::kChat) {
      Json content = Json::array();
      for (const Json& e : items) {
        Json top = Json::array();
        for (const Json& a : e["top"])
          top.push_back({{"token", a[0]}, {"logprob", a[1]}, {"bytes", bytes(a[0].get<std::string>())}});
        content.push_back({{"token", e["token"]}, {"logprob", e["logprob"]},
                           {"bytes", bytes(e["token"].get<std::string>())}, {"top_logprobs", top}});
      }
      return {{"content", content}};
    }
    Json tokens = Json::array(), token_logprobs = Json::array(), top_logprobs = Json::array(),
         offsets = Json::array();
    for (const Json& e : items) {
      tokens.push_back(e["token"]);
      token_logprobs.push_back(e["logprob"]);
      // vLLM: the chosen token is always among its top_logprobs.
      Json top = Json::object();
      for (const Json& a : e["top"]) top[a[0].get<std::string>()] = a[1];
      top[e["token"].get<std::string>()] = e["logprob"];
      top_logprobs.push_back(top);
      offsets.push_back(e["offset"]);
    }
    return {{"tokens", tokens}, {"token_logprobs", token_logprobs}, {"top_logprobs", top_logprobs},
            {"text_offset", offsets}};
  }

  static std::string event(const Json& j) { return "data: " + dump(j) + "\n\n"; }

  // The engine failed this request after it started (an internal error): a stream ends with an
  // error event (as vLLM sends it); a JSON response cannot change its status any more, so the
  // connection is dropped.
  bool fail(httplib::DataSink& sink, const std::string& why) {
    done_ = true;
    if (!streaming_) return false;
    const std::string events = event(Json::parse(ApiError(500, why, "", "internal_error").body())) + "data: [DONE]\n\n";
    if (!sink.write(events.data(), events.size())) return false;
    sink.done();
    return true;
  }

  AsyncEngine& engine_;
  std::shared_ptr<RequestStream> stream_;
  const tok::Tokenizer& tokenizer_;
  const Endpoint endpoint_;
  const bool streaming_, include_usage_;
  const int64_t logprobs_;
  const std::string model_;
  const int64_t created_, prompt_tokens_;
  OutputText text_;
  int64_t completion_tokens_ = 0, cached_tokens_ = 0;
  Json logprob_items_ = Json::array();
  FinishReason finish_ = FinishReason::kNone;
  bool done_ = false, first_chunk_ = true;
};

}  // namespace

void OpenAiServer::completions(const httplib::Request& req, httplib::Response& res, Endpoint endpoint) {
  if (!ready(res)) return;
  AsyncEngine& engine = *engine_.load();
  GenerateRequest r = endpoint == Endpoint::kChat ? parse_chat_request(req.body) : parse_completion_request(req.body);
  check_model(r.model);
  std::vector<int32_t> ids;
  if (endpoint == Endpoint::kChat)
    ids = tokenizer_.encode(render_chat(r.messages, r.add_generation_prompt, r.chat_template_kwargs),
                            r.add_special_tokens);
  else
    ids = r.prompt_is_ids ? r.prompt_ids : tokenizer_.encode(r.prompt, r.add_special_tokens);
  check_prompt_fits(&r, ids, max_model_len_, vocab_size_);

  GenerationParams gp;
  gp.sampling = r.sampling;
  if (!r.has_seed) gp.sampling.seed = fresh_seed();
  gp.max_tokens = *r.max_tokens;
  gp.stop_token_ids = r.stop_token_ids;
  gp.ignore_eos = r.ignore_eos;
  if (!r.ignore_eos) {
    gp.stop_token_ids.insert(gp.stop_token_ids.end(), config_.extra_stop_token_ids.begin(),
                             config_.extra_stop_token_ids.end());
    if (endpoint == Endpoint::kChat)
      gp.stop_token_ids.insert(gp.stop_token_ids.end(), config_.chat_stop_token_ids.begin(),
                               config_.chat_stop_token_ids.end());
  }
  gp.logprobs = r.logprobs >= 0;
  gp.top_logprobs = std::max<int64_t>(r.logprobs, 0);
  const std::string id = (endpoint == Endpoint::kChat ? "chatcmpl-" : "cmpl-") + id_prefix_ +
                         std::to_string(next_id_.fetch_add(1));
  const int64_t prompt_tokens = static_cast<int64_t>(ids.size());
  std::shared_ptr<RequestStream> stream;
  try {
    stream = engine.submit(id, std::move(ids), gp);
  } catch (const Unavailable& e) {
    res.set_header("Retry-After", "1");
    throw ApiError(503, e.what(), "", "server_overloaded");
  }
  std::string why;
  if (!stream->wait_admitted(&why)) throw bad_request(why, endpoint == Endpoint::kChat ? "messages" : "prompt");

  auto gen = std::make_shared<Generation>(engine, stream, tokenizer_, r,
                                          r.model.empty() ? config_.served_model_names[0] : r.model, prompt_tokens);
  auto provider = [gen](size_t, httplib::DataSink& sink) { return gen->run(sink); };
  if (r.stream) {
    res.set_header("Cache-Control", "no-cache");
    res.set_chunked_content_provider("text/event-stream", provider);
  } else {
    res.set_chunked_content_provider("application/json", provider);
  }
}

}  // namespace yz::serve
