// libFuzzer target: the server's request parsing and validation must answer any byte string
// with a parsed request or an ApiError (never crash, hang or read out of bounds; built with
// ASan + UBSan), and what it accepts must be self-consistent. The same bytes also go through
// the SSE parser (`bench serve` reads any server's stream) and the stop-string matcher, whose
// streamed output must equal the whole-text reference however the text is cut.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "serve/openai_protocol.h"
#include "serve/sse.h"
#include "serve/stop_strings.h"

using namespace yz::serve;

namespace {

void check_generate(GenerateRequest (*parse)(const std::string&), const std::string& body) {
  GenerateRequest r;
  try {
    r = parse(body);
  } catch (const ApiError& e) {
    if (e.status() != 400 || e.body().empty()) __builtin_trap();
    return;
  }
  if (r.sampling.temperature < 0 || r.sampling.temperature > 2 || !(r.sampling.top_p > 0) || r.sampling.top_p > 1)
    __builtin_trap();
  if (r.max_tokens && *r.max_tokens < 1) __builtin_trap();
  if (r.logprobs < -1 || r.logprobs > 20) __builtin_trap();
  for (int32_t id : r.prompt_ids)
    if (id < 0) __builtin_trap();
  std::vector<int32_t> ids = r.prompt_is_ids ? r.prompt_ids : std::vector<int32_t>(r.prompt.size() % 64, 1);
  try {
    check_prompt_fits(&r, ids, 48, 1000);
    if (!r.max_tokens || static_cast<int64_t>(ids.size()) + *r.max_tokens > 48) __builtin_trap();
  } catch (const ApiError& e) {
    if (e.status() != 400) __builtin_trap();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string body(reinterpret_cast<const char*>(data), size);
  check_generate(parse_completion_request, body);
  check_generate(parse_chat_request, body);
  try {
    parse_tokenize_request(body);
  } catch (const ApiError&) {
  }
  try {
    parse_detokenize_request(body);
  } catch (const ApiError&) {
  }

  // SSE: cut in two at a data-dependent point; the events must not depend on the cut.
  const size_t cut = size == 0 ? 0 : data[0] % (size + 1);
  SseParser whole, split;
  std::vector<std::string> a = whole.feed(body.data(), size), b = split.feed(body.data(), cut);
  for (auto& e : split.feed(body.data() + cut, size - cut)) b.push_back(e);
  for (auto& e : whole.finish()) a.push_back(e);
  for (auto& e : split.finish()) b.push_back(e);
  if (a != b) __builtin_trap();

  // Stop strings: "stop1\nstop2\n...\0text", the text fed in pieces of data-dependent sizes.
  const size_t nul = body.find('\0');
  if (nul == std::string::npos) return 0;
  std::vector<std::string> stops;
  for (size_t at = 0; at < nul;) {
    const size_t end = std::min(body.find('\n', at), nul);
    stops.push_back(body.substr(at, end - at));
    at = end + 1;
  }
  const std::string text = body.substr(nul + 1);
  // The stop string that completes first (the longest when several end at the same byte), as
  // StopMatcher defines it: independent of how the text is chunked.
  size_t best = std::string::npos;
  for (size_t end = 1; end <= text.size() && best == std::string::npos; ++end) {
    size_t len = 0;
    for (const std::string& s : stops)
      if (!s.empty() && s.size() <= end && s.size() > len && text.compare(end - s.size(), s.size(), s) == 0) {
        best = end - s.size();
        len = s.size();
      }
  }
  const std::string want = best == std::string::npos ? text : text.substr(0, best);
  StopMatcher m(stops);
  std::string got;
  for (size_t at = 0; at < text.size();) {
    const size_t n = 1 + static_cast<unsigned char>(text[at]) % 7;
    got += m.feed(text.substr(at, n));
    if (want.compare(0, got.size(), got) != 0) __builtin_trap();  // released text is final
    at += n;
  }
  got += m.flush();
  if (got != want) __builtin_trap();
  return 0;
}
