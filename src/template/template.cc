// Template compile/render and the compiled-template cache (see template.h).
#include "template/template.h"

#include "template/interpreter.h"
#include "template/lexer.h"
#include "template/parser.h"
#include "template/pystr.h"

namespace yz::tmpl {

std::string describe_position(const std::string& source, size_t pos) {
  pos = std::min(pos, source.size());
  size_t line = 1, line_start = 0;
  for (size_t i = 0; i < pos; ++i)
    if (source[i] == '\n') ++line, line_start = i + 1;
  const size_t column = py::count_codepoints(std::string_view(source).substr(line_start, pos - line_start)) + 1;
  return "line " + std::to_string(line) + ", column " + std::to_string(column);
}

Template::~Template() = default;

std::shared_ptr<const Template> Template::compile(const std::string& source, const std::string& name) {
  std::u32string probe;
  if (!py::decode_utf8(source, &probe)) YZ_CHECK(false, name, ": template is not valid UTF-8");
  std::shared_ptr<Template> t(new Template());
  t->name_ = name;
  t->source_ = normalize_newlines(source);
  try {
    t->body_ = parse(tokenize(t->source_));
  } catch (const SyntaxError& e) {
    YZ_CHECK(false, name, ": ", describe_position(t->source_, e.pos), ": ", e.what());
  }
  return t;
}

RenderResult Template::render(const Json& context, const RenderOptions& options) const {
  YZ_CHECK(context.is_object(), name_, ": the render context must be a JSON object");
  Vars vars;
  try {
    for (auto it = context.begin(); it != context.end(); ++it) vars.emplace_back(it.key(), from_json(it.value()));
  } catch (const EvalError& e) {
    YZ_CHECK(false, name_, ": ", e.what());
  }
  return render(vars, options);
}

RenderResult Template::render(const Vars& variables, const RenderOptions& options) const {
  RenderResult result;
  result.text.reserve(4096);
  Interpreter interp(name_, options, &result.text, &result.generation_spans);
  try {
    interp.run(body_, variables);
  } catch (const LocatedError& e) {
    const std::string where = name_ + ": " + describe_position(source_, e.pos) + ": ";
    if (e.raised) throw RaiseError(where + "raise_exception: " + e.what(), e.what());
    YZ_CHECK(false, where, e.what());
  }
  return result;
}

std::shared_ptr<const Template> TemplateCache::get(const std::string& source, const std::string& name) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = entries_.find({name, source});
    if (it != entries_.end()) {
      it->second.last_used = ++clock_;
      return it->second.tmpl;
    }
  }
  // Compile outside the lock; a concurrent miss for the same source compiles twice, harmlessly.
  std::shared_ptr<const Template> t = Template::compile(source, name);
  std::lock_guard<std::mutex> lock(mu_);
  if (entries_.size() >= capacity_) {
    auto oldest = entries_.begin();
    for (auto it = entries_.begin(); it != entries_.end(); ++it)
      if (it->second.last_used < oldest->second.last_used) oldest = it;
    entries_.erase(oldest);
  }
  entries_[{name, source}] = {t, ++clock_};
  return t;
}

size_t TemplateCache::size() const {
  std::lock_guard<std::mutex> lock(mu_);
  return entries_.size();
}

TemplateCache& TemplateCache::global() {
  static TemplateCache cache;
  return cache;
}

}  // namespace yz::tmpl
