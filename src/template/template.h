// Jinja templates as transformers renders chat templates: compile once (thread-safe to share),
// render many times. The environment is transformers' ImmutableSandboxedEnvironment with
// trim_blocks, lstrip_blocks and loop controls, plus its globals raise_exception and
// strftime_now, its tojson (json.dumps: no HTML escaping, key order kept) and its
// {% generation %} tag. See README "Chat templates" for the supported language.
//
// Errors are yz::Error (kInvalidInput) whose message starts with the template's name:
//   "NAME: line L, column C: message"  (syntax errors and render errors alike)
// and RaiseError when the template itself calls raise_exception(message).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "template/value.h"
#include "util/error.h"

namespace yz::tmpl {

namespace ast {
struct Stmt;
}

// Bounds on one render; exceeding one is an error naming the limit.
struct RenderLimits {
  int64_t max_output_bytes = 16 << 20;  // the rendered text, and any string built on the way
  int max_recursion_depth = 100;        // nested macro / caller() / recursive loop calls
  // Work: loop iterations, plus items walked by filters, plus one per 256 bytes of strings built.
  int64_t max_iterations = 1000000;
};

// Byte range of the output that a {% generation %} block produced: the assistant's tokens,
// which transformers' return_assistant_tokens_mask marks for training.
struct GenerationSpan {
  size_t begin = 0, end = 0;
};

struct RenderOptions {
  RenderLimits limits;
  // What strftime_now() formats, in local time like Python's datetime.now(). Empty: the
  // system clock. Tests inject a fixed time.
  std::function<std::chrono::system_clock::time_point()> clock;
};

struct RenderResult {
  std::string text;
  std::vector<GenerationSpan> generation_spans;  // only those rendered at the top level
};

// The template called raise_exception(message): message() is the template's own text.
class RaiseError : public yz::Error {
 public:
  RaiseError(const std::string& what, std::string message)
      : yz::Error(ErrorKind::kInvalidInput, what), message_(std::move(message)) {}
  const std::string& message() const { return message_; }

 private:
  std::string message_;
};

class Template {
 public:
  // `name` prefixes every error (use the file it came from). Throws yz::Error on bad syntax,
  // unknown filters/tests and invalid UTF-8.
  static std::shared_ptr<const Template> compile(const std::string& source,
                                                 const std::string& name);
  ~Template();

  // `context` must be a JSON object: its members are the template's variables.
  RenderResult render(const Json& context, const RenderOptions& options = {}) const;
  // The same with variables already converted (from_json), as the chat API renders them.
  using Vars = std::vector<std::pair<std::string, Value>>;
  RenderResult render(const Vars& variables, const RenderOptions& options = {}) const;

  const std::string& name() const { return name_; }

 private:
  Template() = default;
  std::string name_;
  std::string source_;  // newline-normalised, for error positions
  std::vector<std::unique_ptr<ast::Stmt>> body_;
};

// Compiled templates by (name, source): the server and the SFT data builder render one
// template for every request or example and must not re-parse it each time.
class TemplateCache {
 public:
  explicit TemplateCache(size_t capacity = 64) : capacity_(capacity) {}
  std::shared_ptr<const Template> get(const std::string& source, const std::string& name);
  size_t size() const;
  static TemplateCache& global();

 private:
  mutable std::mutex mu_;
  size_t capacity_;
  uint64_t clock_ = 0;
  struct Entry {
    std::shared_ptr<const Template> tmpl;
    uint64_t last_used;
  };
  std::map<std::pair<std::string, std::string>, Entry> entries_;
};

// "line L, column C" (1-based, columns in characters) of byte offset `pos` in `source`.
std::string describe_position(const std::string& source, size_t pos);

}  // namespace yz::tmpl
