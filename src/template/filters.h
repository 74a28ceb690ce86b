// Jinja's built-in filters and tests (jinja2/filters.py, jinja2/tests.py), with tojson as
// transformers overrides it. The parser resolves names here, so an unknown filter or test is a
// compile error, as in Jinja.
#pragma once

#include <string_view>

#include "template/value.h"

namespace yz::tmpl {

class Interpreter;
struct Args;

struct Callable {
  const char* name;
  Value (*filter)(Interpreter&, const Value& input, Args& args);
  bool (*test)(Interpreter&, const Value& input, Args& args);
};

const Callable* find_filter(std::string_view name);
const Callable* find_test(std::string_view name);
// Jinja filters this engine leaves out (random, urlize, ...): named in the compile error.
bool is_unsupported_jinja_filter(std::string_view name);

}  // namespace yz::tmpl
