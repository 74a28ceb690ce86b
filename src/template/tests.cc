// Jinja's built-in tests (jinja2/tests.py, 3.1): `x is defined`, `x is string`, ...
#include <cmath>

#include "template/filters.h"
#include "template/interpreter.h"
#include "template/pystr.h"

namespace yz::tmpl {

namespace {

const Value& one_arg(const char* name, const Args& a) {
  if (a.positional.size() != 1 || !a.keyword.empty())
    throw EvalError(std::string("test '") + name + "' takes exactly one argument");
  return a.positional[0];
}

void no_args(const char* name, const Args& a) {
  if (!a.positional.empty() || !a.keyword.empty())
    throw EvalError(std::string("test '") + name + "' takes no arguments");
}

#define YZ_TEST0(fn, name, expr)                       \
  bool fn(Interpreter&, const Value& v, Args& a) {     \
    no_args(name, a);                                  \
    return (expr);                                     \
  }

YZ_TEST0(t_defined, "defined", !v.is_undefined())
YZ_TEST0(t_undefined, "undefined", v.is_undefined())
YZ_TEST0(t_none, "none", v.is_none())
YZ_TEST0(t_boolean, "boolean", v.kind() == Value::Kind::kBool)
YZ_TEST0(t_false, "false", v.kind() == Value::Kind::kBool && !v.boolean())
YZ_TEST0(t_true, "true", v.kind() == Value::Kind::kBool && v.boolean())
YZ_TEST0(t_integer, "integer", v.kind() == Value::Kind::kInt)
YZ_TEST0(t_float, "float", v.kind() == Value::Kind::kFloat)
YZ_TEST0(t_number, "number", v.is_number())
YZ_TEST0(t_string, "string", v.is_string())
YZ_TEST0(t_mapping, "mapping", v.is_dict())
YZ_TEST0(t_callable, "callable",
         v.kind() == Value::Kind::kObject && !v.is_object(Object::Type::kNamespace))
// iter(v) works: sequences, generators, dicts, strings, and Undefined (iterates as empty).
YZ_TEST0(t_iterable, "iterable",
         v.is_undefined() || v.is_string() || v.is_list() || v.is_dict() ||
             v.is_object(Object::Type::kLoop))
// len(v) and v.__getitem__ both exist (Undefined has both).
YZ_TEST0(t_sequence, "sequence",
         v.is_undefined() || v.is_string() || v.is_dict() ||
             (v.is_list() && v.list().kind != SeqKind::kGenerator))
YZ_TEST0(t_escaped, "escaped", false)  // no Markup values without autoescape
YZ_TEST0(t_lower, "lower", py::is_lower(to_str(v)))
YZ_TEST0(t_upper, "upper", py::is_upper(to_str(v)))

#undef YZ_TEST0

double py_mod(const Value& v, const Value& d, const char* name) {
  if (!v.is_number() || !d.is_number())
    throw EvalError(std::string("test '") + name + "' needs numbers, not " + type_name(v));
  if (d.number() == 0) throw EvalError("integer division or modulo by zero");
  if (v.is_int() && d.is_int()) {
    int64_t m = d.integer() == -1 ? 0 : v.integer() % d.integer();
    if (m != 0 && ((m < 0) != (d.integer() < 0))) m += d.integer();
    return static_cast<double>(m);
  }
  double m = std::fmod(v.number(), d.number());
  if (m != 0 && ((d.number() < 0) != (m < 0))) m += d.number();
  return m;
}

bool t_odd(Interpreter&, const Value& v, Args& a) {
  no_args("odd", a);
  return py_mod(v, Value(int64_t{2}), "odd") == 1;
}

bool t_even(Interpreter&, const Value& v, Args& a) {
  no_args("even", a);
  return py_mod(v, Value(int64_t{2}), "even") == 0;
}

bool t_divisibleby(Interpreter&, const Value& v, Args& a) {
  return py_mod(v, one_arg("divisibleby", a), "divisibleby") == 0;
}

bool t_eq(Interpreter&, const Value& v, Args& a) { return equals(v, one_arg("eq", a)); }
bool t_ne(Interpreter&, const Value& v, Args& a) { return !equals(v, one_arg("ne", a)); }
bool t_lt(Interpreter&, const Value& v, Args& a) { return compare(v, one_arg("lt", a), "<") == -1; }
bool t_gt(Interpreter&, const Value& v, Args& a) { return compare(v, one_arg("gt", a), ">") == 1; }
bool t_le(Interpreter&, const Value& v, Args& a) {
  int c = compare(v, one_arg("le", a), "<=");
  return c == -1 || c == 0;
}
bool t_ge(Interpreter&, const Value& v, Args& a) {
  int c = compare(v, one_arg("ge", a), ">=");
  return c == 1 || c == 0;
}

bool t_in(Interpreter& in, const Value& v, Args& a) {
  const Value& seq = one_arg("in", a);
  if (seq.is_string()) {
    if (!v.is_string()) throw EvalError("'in <string>' requires string as left operand, not " + type_name(v));
    return seq.str().find(v.str()) != std::string::npos;
  }
  if (seq.is_dict()) {
    if (!hashable(v)) throw EvalError("unhashable type: '" + type_name(v) + "'");
    return seq.dict().find_key(v) != nullptr;
  }
  for (const Value& x : iterate(seq)) {
    in.charge(1);
    if (equals(x, v)) return true;
  }
  return false;
}

// `a is b`: identity. Python shares None, booleans and small ints; other values are the
// same object only when they are the same reference.
bool t_sameas(Interpreter&, const Value& v, Args& a) {
  const Value& o = one_arg("sameas", a);
  if (v.kind() != o.kind()) return false;
  switch (v.kind()) {
    case Value::Kind::kNone: case Value::Kind::kUndefined: return true;
    case Value::Kind::kBool: return v.boolean() == o.boolean();
    case Value::Kind::kInt: return v.integer() == o.integer() && v.integer() >= -5 && v.integer() <= 256;
    case Value::Kind::kString: return &v.str() == &o.str();
    case Value::Kind::kList: return &v.list() == &o.list();
    case Value::Kind::kDict: return &v.dict() == &o.dict();
    case Value::Kind::kObject: return v.object() == o.object();
    default: return false;
  }
}

bool t_filter(Interpreter&, const Value& v, Args& a) {
  no_args("filter", a);
  return v.is_string() && find_filter(v.str()) != nullptr;
}

bool t_test(Interpreter&, const Value& v, Args& a) {
  no_args("test", a);
  return v.is_string() && find_test(v.str()) != nullptr;
}

const Callable kTests[] = {
    {"defined", nullptr, t_defined},   {"undefined", nullptr, t_undefined},
    {"none", nullptr, t_none},         {"boolean", nullptr, t_boolean},
    {"false", nullptr, t_false},       {"true", nullptr, t_true},
    {"integer", nullptr, t_integer},   {"float", nullptr, t_float},
    {"number", nullptr, t_number},     {"string", nullptr, t_string},
    {"mapping", nullptr, t_mapping},   {"callable", nullptr, t_callable},
    {"iterable", nullptr, t_iterable}, {"sequence", nullptr, t_sequence},
    {"escaped", nullptr, t_escaped},   {"lower", nullptr, t_lower},
    {"upper", nullptr, t_upper},       {"odd", nullptr, t_odd},
    {"even", nullptr, t_even},         {"divisibleby", nullptr, t_divisibleby},
    {"eq", nullptr, t_eq},             {"equalto", nullptr, t_eq},
    {"==", nullptr, t_eq},             {"ne", nullptr, t_ne},
    {"!=", nullptr, t_ne},             {"lt", nullptr, t_lt},
    {"lessthan", nullptr, t_lt},       {"<", nullptr, t_lt},
    {"le", nullptr, t_le},             {"<=", nullptr, t_le},
    {"gt", nullptr, t_gt},             {"greaterthan", nullptr, t_gt},
    {">", nullptr, t_gt},              {"ge", nullptr, t_ge},
    {">=", nullptr, t_ge},             {"in", nullptr, t_in},
    {"sameas", nullptr, t_sameas},     {"filter", nullptr, t_filter},
    {"test", nullptr, t_test},
};

}  // namespace

const Callable* find_test(std::string_view name) {
  for (const Callable& c : kTests)
    if (name == c.name) return &c;
  return nullptr;
}

}  // namespace yz::tmpl
