// Jinja's built-in filters (jinja2/filters.py, 3.1), each following the Python function of the
// same name, and transformers' tojson override (json.dumps with ensure_ascii=False).
#include "template/filters.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <set>

#include "template/interpreter.h"
#include "template/pystr.h"

namespace yz::tmpl {

namespace {

using Opt = const Value*;  // a bound argument, null when left out

std::string soft_str(const Value& v) { return to_str(v); }

// A str filter that keeps Markup as Markup (markupsafe wraps strip/lower/upper/...).
Value same_kind(const Value& input, std::string s) {
  return input.is_markup() ? Value::markup(std::move(s)) : Value(std::move(s));
}

int64_t int_arg(Opt v, int64_t dflt, const char* what) {
  if (!v || v->is_none()) return dflt;
  if (!v->is_int()) throw EvalError(std::string(what) + " must be an integer, not " + type_name(*v));
  return v->integer();
}

Value generator(std::vector<Value> items) { return Value::list(std::move(items), SeqKind::kGenerator); }

// make_attrgetter: "a.b.0" looked up part by part with getitem semantics.
Value get_path(Interpreter& in, Value item, const Value& attribute, Opt dflt = nullptr) {
  if (attribute.is_string()) {
    const std::string& path = attribute.str();
    size_t b = 0;
    while (b <= path.size()) {
      size_t e = path.find('.', b);
      if (e == std::string::npos) e = path.size();
      std::string part = path.substr(b, e - b);
      const bool digits = !part.empty() && std::all_of(part.begin(), part.end(), ::isdigit);
      item = in.getitem(item, digits ? Value(static_cast<int64_t>(std::strtoll(part.c_str(), nullptr, 10)))
                                     : Value(part));
      b = e + 1;
    }
  } else {
    item = in.getitem(item, attribute);
  }
  if (dflt && !dflt->is_none() && item.is_undefined()) return *dflt;
  return item;
}

// Sort key of sort/unique/min/max/dictsort: strings lower-cased unless case_sensitive.
Value sort_key(const Value& v, bool case_sensitive) {
  return !case_sensitive && v.is_string() ? Value(py::lower(v.str())) : v;
}

Value f_abs(Interpreter&, const Value& v, Args& a) {
  bind_args("abs", a, {});
  if (v.kind() == Value::Kind::kFloat) return Value(std::fabs(v.number()));
  if (v.is_int()) {
    if (v.integer() == INT64_MIN) throw EvalError("integer overflow (results must fit in 64 bits)");
    return Value(v.integer() < 0 ? -v.integer() : v.integer());
  }
  if (v.is_undefined()) fail_undefined(v);
  throw EvalError("bad operand type for abs(): '" + type_name(v) + "'");
}

Value f_attr(Interpreter& in, const Value& v, Args& a) {
  auto p = bind_args("attr", a, {{"name", true}});
  if (!p[0]->is_string()) throw EvalError("attribute name must be a string");
  // getattr only: unlike `.name`, a dict key is not an attribute.
  if (v.is_dict() && !lookup_method(v, method_from_name(p[0]->str())))
    return Value::undefined("'dict object' has no attribute '" + p[0]->str() + "'");
  return in.getattr(v, p[0]->str());
}

Value f_batch(Interpreter& in, const Value& v, Args& a) {
  auto p = bind_args("batch", a, {{"linecount", true}, {"fill_with"}});
  const int64_t n = int_arg(p[0], 0, "linecount");
  if (n <= 0) throw EvalError("batch linecount must be positive");
  in.charge(n);  // the last batch may be filled up to n items
  std::vector<Value> out, cur;
  for (Value& x : iterate(v)) {
    in.charge(1);
    cur.push_back(std::move(x));
    if (static_cast<int64_t>(cur.size()) == n) out.push_back(Value::list(std::move(cur))), cur.clear();
  }
  if (!cur.empty()) {
    if (p[1] && !p[1]->is_none())
      while (static_cast<int64_t>(cur.size()) < n) cur.push_back(*p[1]);
    out.push_back(Value::list(std::move(cur)));
  }
  return generator(std::move(out));
}

Value f_capitalize(Interpreter&, const Value& v, Args& a) {
  bind_args("capitalize", a, {});
  return same_kind(v, py::capitalize(soft_str(v)));
}

Value f_center(Interpreter& in, const Value& v, Args& a) {
  auto p = bind_args("center", a, {{"width"}});
  const std::string s = soft_str(v);
  const int64_t width = int_arg(p[0], 80, "width"), len = static_cast<int64_t>(py::count_codepoints(s));
  if (width <= len) return same_kind(v, s);
  in.check_size(static_cast<size_t>(width));
  const int64_t marg = width - len, left = marg / 2 + (marg & width & 1);  // CPython pad()
  return same_kind(v, std::string(static_cast<size_t>(left), ' ') + s +
                         std::string(static_cast<size_t>(marg - left), ' '));
}

Value f_length(Interpreter&, const Value& v, Args& a) {
  bind_args("length", a, {});
  return Value(length(v));
}

Value f_default(Interpreter&, const Value& v, Args& a) {
  auto p = bind_args("default", a, {{"default_value"}, {"boolean"}});
  const bool boolean = p[1] && truthy(*p[1]);
  if (v.is_undefined() || (boolean && !truthy(v))) return p[0] ? *p[0] : Value("");
  return v;
}

Value f_dictsort(Interpreter& in, const Value& v, Args& a) {
  auto p = bind_args("dictsort", a, {{"case_sensitive"}, {"by"}, {"reverse"}});
  if (!v.is_dict()) throw EvalError("dictsort needs a mapping, not " + type_name(v));
  const bool cs = p[0] && truthy(*p[0]), rev = p[2] && truthy(*p[2]);
  const std::string by = p[1] ? soft_str(*p[1]) : "key";
  if (by != "key" && by != "value") throw EvalError("You can only sort by either \"key\" or \"value\"");
  std::vector<std::pair<Value, Value>> items = v.dict().items;
  in.charge(static_cast<int64_t>(items.size()));
  std::stable_sort(items.begin(), items.end(), [&](const auto& x, const auto& y) {
    Value kx = sort_key(by == "key" ? x.first : x.second, cs);
    Value ky = sort_key(by == "key" ? y.first : y.second, cs);
    return rev ? compare(ky, kx) == -1 : compare(kx, ky) == -1;
  });
  std::vector<Value> out;
  for (auto& [k, x] : items) out.push_back(Value::list({k, x}, SeqKind::kTuple));
  return Value::list(std::move(out));
}

// escape: Markup passes through; anything else is str()-ed and HTML-escaped into Markup.
Value f_escape(Interpreter& in, const Value& v, Args& a) {
  bind_args("escape", a, {});
  if (v.is_markup()) return v;
  std::string out = html_escape(soft_str(v));
  in.check_size(out.size());
  return Value::markup(std::move(out));
}

Value f_forceescape(Interpreter& in, const Value& v, Args& a) {
  bind_args("forceescape", a, {});
  std::string out = html_escape(soft_str(v));
  in.check_size(out.size());
  return Value::markup(std::move(out));
}

Value f_first(Interpreter&, const Value& v, Args& a) {
  bind_args("first", a, {});
  if (v.is_list() && v.list().kind == SeqKind::kGenerator) {
    const List& l = v.list();
    if (l.consumed < l.items.size()) return l.items[l.consumed++];
  } else {
    std::vector<Value> items = iterate(v);
    if (!items.empty()) return items.front();
  }
  return Value::undefined("No first item, sequence was empty.");
}

Value f_last(Interpreter&, const Value& v, Args& a) {
  bind_args("last", a, {});
  if (v.is_list() && v.list().kind == SeqKind::kGenerator)
    throw EvalError("'generator' object is not reversible");
  std::vector<Value> items = iterate(v);
  if (items.empty()) return Value::undefined("No last item, sequence was empty.");
  return items.back();
}

// Python float(str): surrounding whitespace, sign, digits with single underscores, inf/nan.
std::optional<double> parse_float(const std::string& text) {
  std::string s = py::strip(text, std::nullopt, true, true), t;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '_') {
      if (i == 0 || i + 1 == s.size() || !::isdigit(s[i - 1]) || !::isdigit(s[i + 1])) return std::nullopt;
      continue;
    }
    t += s[i];
  }
  if (t.empty() || t.find_first_of("xXpP") != std::string::npos) return std::nullopt;
  char* end = nullptr;
  double d = std::strtod(t.c_str(), &end);
  if (end != t.c_str() + t.size()) return std::nullopt;
  std::string low = py::lower(t);
  if (low.find("inf") != std::string::npos && low != "inf" && low != "+inf" && low != "-inf" &&
      low != "infinity" && low != "+infinity" && low != "-infinity")
    return std::nullopt;
  return d;
}

Value f_float(Interpreter&, const Value& v, Args& a) {
  auto p = bind_args("float", a, {{"default"}});
  const Value dflt = p[0] ? *p[0] : Value(0.0);
  if (v.is_number()) return Value(v.number());
  if (v.is_string())
    if (auto d = parse_float(v.str())) return Value(*d);
  return dflt;
}

Value f_format(Interpreter&, const Value& v, Args& a) {
  if (!a.positional.empty() && !a.keyword.empty())
    throw EvalError("can't handle positional and keyword arguments at the same time");
  if (!a.keyword.empty()) {
    std::vector<std::pair<Value, Value>> kw;
    for (const auto& [k, x] : a.keyword) kw.emplace_back(Value(k), x);
    return Value(percent_format(soft_str(v), Value::dict(std::move(kw))));
  }
  return Value(percent_format(soft_str(v), Value::list(a.positional, SeqKind::kTuple)));
}

Value f_indent(Interpreter& in, const Value& v, Args& a) {
  auto p = bind_args("indent", a, {{"width"}, {"first"}, {"blank"}});
  std::string ind;
  if (p[0] && p[0]->is_string()) {
    ind = p[0]->str();
  } else {
    const int64_t width = std::max<int64_t>(0, int_arg(p[0], 4, "width"));
    in.check_size(static_cast<size_t>(width));
    ind.assign(static_cast<size_t>(width), ' ');
  }
  const bool first = p[1] && truthy(*p[1]), blank = p[2] && truthy(*p[2]);
  std::vector<std::string> lines = py::splitlines(soft_str(v) + "\n", false);
  std::string rv;
  for (size_t i = 0; i < lines.size(); ++i) {
    if (i) rv += "\n";
    if (i && (blank || !lines[i].empty())) rv += ind;
    rv += lines[i];
    in.check_limit(rv.size());
  }
  in.check_size(rv.size());
  return same_kind(v, first ? ind + rv : rv);
}

// Python int(text, base): whitespace, a sign, the base's 0x/0o/0b prefix (any of them for
// base 0), digits with single underscores between them.
std::optional<int64_t> parse_int(const std::string& text, int64_t base) {
  if (base != 0 && (base < 2 || base > 36)) return std::nullopt;  // ValueError: |int's default
  const std::string s = py::strip(text, std::nullopt, true, true);
  size_t i = 0;
  bool neg = false;
  if (i < s.size() && (s[i] == '+' || s[i] == '-')) neg = s[i++] == '-';
  bool prefixed = false;
  if (i + 1 < s.size() && s[i] == '0') {
    const char x = static_cast<char>(s[i + 1] | 0x20);
    const int64_t b = x == 'x' ? 16 : x == 'o' ? 8 : x == 'b' ? 2 : 0;
    if (b && (base == 0 || base == b)) base = b, i += 2, prefixed = true;
  }
  if (base == 0) {  // no prefix: decimal, and no leading zeros on a non-zero number
    base = 10;
    if (i + 1 < s.size() && s[i] == '0' && s.find_first_not_of("0_", i) != std::string::npos) return std::nullopt;
  }
  std::string digits;
  for (size_t k = i; k < s.size(); ++k) {
    if (s[k] == '_') {
      if (k + 1 >= s.size() || s[k + 1] == '_' || (k == i && !prefixed)) return std::nullopt;
      continue;
    }
    const int d = ::isdigit(s[k]) ? s[k] - '0' : ::isalpha(s[k]) ? (s[k] | 0x20) - 'a' + 10 : 99;
    if (d >= base) return std::nullopt;
    digits += s[k];
  }
  if (digits.empty()) return std::nullopt;
  errno = 0;
  unsigned long long u = std::strtoull(digits.c_str(), nullptr, static_cast<int>(base));
  if (errno == ERANGE || u > static_cast<unsigned long long>(INT64_MAX) + neg)
    throw EvalError("integer " + s + " does not fit in 64 bits");
  return neg ? static_cast<int64_t>(0 - u) : static_cast<int64_t>(u);
}

Value f_int(Interpreter&, const Value& v, Args& a) {
  auto p = bind_args("int", a, {{"default"}, {"base"}});
  const Value dflt = p[0] ? *p[0] : Value(int64_t{0});
  const int64_t base = int_arg(p[1], 10, "base");
  auto from_double = [&](double d) -> Value {
    if (std::isnan(d)) return dflt;
    if (std::isinf(d) || std::fabs(d) >= 9.2e18) throw EvalError("cannot convert float to a 64-bit integer");
    return Value(static_cast<int64_t>(d));
  };
  if (v.is_int()) return Value(v.integer());
  if (v.kind() == Value::Kind::kFloat) return from_double(v.number());
  if (!v.is_string()) return dflt;
  if (auto x = parse_int(v.str(), base)) return Value(*x);
  if (auto d = parse_float(v.str())) return from_double(*d);  // "42.23"|int == 42
  return dflt;
}

Value f_items(Interpreter& in, const Value& v, Args& a) {
  bind_args("items", a, {});
  if (v.is_undefined()) return generator({});
  if (!v.is_dict()) throw EvalError("Can only get item pairs from a mapping.");
  std::vector<Value> out;
  for (const auto& [k, x] : v.dict().items) out.push_back(Value::list({k, x}, SeqKind::kTuple));
  in.charge(static_cast<int64_t>(out.size()));
  return generator(std::move(out));
}

Value f_join(Interpreter& in, const Value& v, Args& a) {
  auto p = bind_args("join", a, {{"d"}, {"attribute"}});
  const std::string sep = p[0] ? soft_str(*p[0]) : "";
  std::string out;
  bool first = true;
  for (const Value& x : iterate(v)) {
    in.charge(1);
    if (!first) out += sep;
    first = false;
    append_str(p[1] && !p[1]->is_none() ? get_path(in, x, *p[1]) : x, &out);
    in.check_limit(out.size());
  }
  in.check_size(out.size());
  return Value(std::move(out));
}

Value f_list(Interpreter& in, const Value& v, Args& a) {
  bind_args("list", a, {});
  std::vector<Value> items = iterate(v);
  in.charge(static_cast<int64_t>(items.size()));
  return Value::list(std::move(items));
}

Value f_lower(Interpreter&, const Value& v, Args& a) {
  bind_args("lower", a, {});
  return same_kind(v, py::lower(soft_str(v)));
}

Value f_upper(Interpreter&, const Value& v, Args& a) {
  bind_args("upper", a, {});
  return same_kind(v, py::upper(soft_str(v)));
}

Value f_map(Interpreter& in, const Value& v, Args& a) {
  std::vector<Value> out;
  if (!truthy(v)) return generator({});  // sync_do_map: `if value:`
  if (a.positional.empty()) {
    Opt attribute = nullptr, dflt = nullptr;
    for (const auto& [k, x] : a.keyword) {
      if (k == "attribute") attribute = &x;
      else if (k == "default") dflt = &x;
      else throw EvalError("Unexpected keyword argument '" + k + "'");
    }
    if (!attribute) throw EvalError("map requires a filter argument");
    for (const Value& x : iterate(v)) {
      in.charge(1);
      out.push_back(get_path(in, x, *attribute, dflt));
    }
    return generator(std::move(out));
  }
  const std::string name = soft_str(a.positional[0]);
  Args rest{std::vector<Value>(a.positional.begin() + 1, a.positional.end()), a.keyword};
  for (const Value& x : iterate(v)) {
    in.charge(1);
    Args call = rest;
    out.push_back(in.apply_filter(name, x, call));
  }
  return generator(std::move(out));
}

Value aggregate(Interpreter& in, const Value& v, Args& a, bool want_max) {
  auto p = bind_args(want_max ? "max" : "min", a, {{"case_sensitive"}, {"attribute"}});
  const bool cs = p[0] && truthy(*p[0]);
  std::vector<Value> items = iterate(v);
  in.charge(static_cast<int64_t>(items.size()));
  if (items.empty()) return Value::undefined("No aggregated item, sequence was empty.");
  auto key = [&](const Value& x) {
    return sort_key(p[1] && !p[1]->is_none() ? get_path(in, x, *p[1]) : x, cs);
  };
  size_t best = 0;
  for (size_t i = 1; i < items.size(); ++i) {
    int c = compare(key(items[i]), key(items[best]));
    if (want_max ? c == 1 : c == -1) best = i;
  }
  return items[best];
}

Value f_max(Interpreter& in, const Value& v, Args& a) { return aggregate(in, v, a, true); }
Value f_min(Interpreter& in, const Value& v, Args& a) { return aggregate(in, v, a, false); }

// select / reject / selectattr / rejectattr (prepare_select_or_reject).
Value select_or_reject(Interpreter& in, const Value& v, Args& a, bool keep_if, bool by_attr) {
  if (!truthy(v)) return generator({});  // select_or_reject: `if value:`
  size_t off = 0;
  Value attr;
  if (by_attr) {
    if (a.positional.empty()) throw EvalError("Missing parameter for attribute name");
    attr = a.positional[0];
    off = 1;
  }
  const bool has_test = a.positional.size() > off;
  const std::string test = has_test ? soft_str(a.positional[off]) : "";
  Args rest{has_test ? std::vector<Value>(a.positional.begin() + static_cast<ptrdiff_t>(off) + 1,
                                          a.positional.end())
                     : std::vector<Value>{},
            a.keyword};
  std::vector<Value> out;
  for (Value& x : iterate(v)) {
    in.charge(1);
    Value probe = by_attr ? get_path(in, x, attr) : x;
    Args call = rest;
    if ((has_test ? in.apply_test(test, probe, call) : truthy(probe)) == keep_if)
      out.push_back(std::move(x));
  }
  return generator(std::move(out));
}

Value f_select(Interpreter& in, const Value& v, Args& a) { return select_or_reject(in, v, a, true, false); }
Value f_reject(Interpreter& in, const Value& v, Args& a) { return select_or_reject(in, v, a, false, false); }
Value f_selectattr(Interpreter& in, const Value& v, Args& a) { return select_or_reject(in, v, a, true, true); }
Value f_rejectattr(Interpreter& in, const Value& v, Args& a) { return select_or_reject(in, v, a, false, true); }

Value f_replace(Interpreter& in, const Value& v, Args& a) {
  auto p = bind_args("replace", a, {{"old", true}, {"new", true}, {"count"}});
  return Value(checked_replace(in, soft_str(v), soft_str(*p[0]), soft_str(*p[1]), int_arg(p[2], -1, "count")));
}

Value f_reverse(Interpreter& in, const Value& v, Args& a) {
  bind_args("reverse", a, {});
  if (v.is_string()) {
    std::u32string u = py::to_u32(v.str());
    std::reverse(u.begin(), u.end());
    return Value(py::to_utf8(u));
  }
  const bool gen = v.is_list() && v.list().kind == SeqKind::kGenerator;
  std::vector<Value> items = iterate(v);
  in.charge(static_cast<int64_t>(items.size()));
  std::reverse(items.begin(), items.end());
  // reversed() of a sequence is an iterator; a generator is copied into a list first.
  return gen ? Value::list(std::move(items)) : generator(std::move(items));
}

Value f_round(Interpreter&, const Value& v, Args& a) {
  auto p = bind_args("round", a, {{"precision"}, {"method"}});
  const int64_t prec = int_arg(p[0], 0, "precision");
  const std::string method = p[1] ? soft_str(*p[1]) : "common";
  if (method != "common" && method != "ceil" && method != "floor")
    throw EvalError("method must be common, ceil or floor");
  if (!v.is_number()) throw EvalError("type " + type_name(v) + " doesn't define __round__ method");
  if (prec < -308 || prec > 308) throw EvalError("round() precision out of range");
  if (method == "common") {
    if (v.is_int() && prec >= 0) return Value(v.integer());
    const double x = v.number();
    if (prec >= 0) {  // correctly rounded, ties to even, as CPython's round(x, n)
      char buf[400];
      std::snprintf(buf, sizeof buf, "%.*f", static_cast<int>(prec), x);
      return Value(std::strtod(buf, nullptr));
    }
    const double pow1 = std::pow(10.0, static_cast<double>(-prec));
    const double r = std::nearbyint(x / pow1) * pow1;
    return v.is_int() ? Value(static_cast<int64_t>(r)) : Value(r);
  }
  const double scale = std::pow(10.0, static_cast<double>(prec));
  const double x = v.number() * scale;
  return Value((method == "ceil" ? std::ceil(x) : std::floor(x)) / scale);
}

Value f_safe(Interpreter&, const Value& v, Args& a) {
  bind_args("safe", a, {});
  return Value::markup(soft_str(v));
}

Value f_sort(Interpreter& in, const Value& v, Args& a) {
  auto p = bind_args("sort", a, {{"reverse"}, {"case_sensitive"}, {"attribute"}});
  const bool rev = p[0] && truthy(*p[0]), cs = p[1] && truthy(*p[1]);
  std::vector<Value> items = iterate(v);
  in.charge(static_cast<int64_t>(items.size()));
  std::vector<std::pair<Value, Value>> keyed;
  for (Value& x : items)
    keyed.emplace_back(sort_key(p[2] && !p[2]->is_none() ? get_path(in, x, *p[2]) : x, cs), x);
  std::stable_sort(keyed.begin(), keyed.end(), [&](const auto& x, const auto& y) {
    return rev ? compare(y.first, x.first) == -1 : compare(x.first, y.first) == -1;
  });
  std::vector<Value> out;
  for (auto& kv : keyed) out.push_back(std::move(kv.second));
  return Value::list(std::move(out));
}

Value f_string(Interpreter&, const Value& v, Args& a) {
  bind_args("string", a, {});
  return v.is_string() ? v : Value(soft_str(v));
}

Value f_sum(Interpreter& in, const Value& v, Args& a) {
  auto p = bind_args("sum", a, {{"attribute"}, {"start"}});
  Value acc = p[1] ? *p[1] : Value(int64_t{0});
  for (const Value& raw : iterate(v)) {
    in.charge(1);
    Value x = p[0] && !p[0]->is_none() ? get_path(in, raw, *p[0]) : raw;
    if (x.is_undefined()) fail_undefined(x);
    if (!acc.is_number() || !x.is_number())
      throw EvalError("unsupported operand type(s) for +: '" + type_name(acc) + "' and '" + type_name(x) + "'");
    int64_t r;
    if (acc.is_int() && x.is_int()) {
      if (__builtin_add_overflow(acc.integer(), x.integer(), &r))
        throw EvalError("integer overflow (results must fit in 64 bits)");
      acc = Value(r);
    } else {
      acc = Value(acc.number() + x.number());
    }
  }
  return acc;
}

Value f_title(Interpreter&, const Value& v, Args& a) {
  // Jinja's own title(): capitalise after runs of [-\s({\[<], not str.title().
  bind_args("title", a, {});
  std::u32string u = py::to_u32(soft_str(v));
  auto is_sep = [](char32_t c) {
    return c == '-' || c == '(' || c == '{' || c == '[' || c == '<' || py::is_space(c);
  };
  std::string out;
  for (size_t i = 0; i < u.size();) {
    size_t j = i + 1;
    while (j < u.size() && is_sep(u[j]) == is_sep(u[i])) ++j;
    std::string run = py::to_utf8(std::u32string_view(u).substr(i, j - i));
    const size_t first = py::codepoint_offset(run, 1);
    out += py::upper(run.substr(0, first)) + py::lower(run.substr(first));
    i = j;
  }
  return Value(std::move(out));
}

Value f_tojson(Interpreter& in, const Value& v, Args& a) {
  // transformers: lambda x, ensure_ascii=False, indent=None, separators=None, sort_keys=False:
  //   json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)
  auto p = bind_args("tojson", a, {{"ensure_ascii"}, {"indent"}, {"separators"}, {"sort_keys"}});
  JsonDumpOptions o;
  o.ensure_ascii = p[0] && truthy(*p[0]);
  if (p[1] && !p[1]->is_none()) {
    o.has_indent = true;
    if (p[1]->is_string()) o.indent = p[1]->str();
    else o.indent = std::string(static_cast<size_t>(std::clamp<int64_t>(int_arg(p[1], 0, "indent"), 0, 1 << 20)), ' ');
    o.item_separator = ",";
  }
  if (p[2] && !p[2]->is_none()) {
    std::vector<Value> seps = iterate(*p[2]);
    if (seps.size() != 2 || !seps[0].is_string() || !seps[1].is_string())
      throw EvalError("separators must be a pair of strings");
    o.item_separator = seps[0].str();
    o.key_separator = seps[1].str();
  }
  o.sort_keys = p[3] && truthy(*p[3]);
  o.max_bytes = static_cast<size_t>(in.options().limits.max_output_bytes);
  std::string out = dump_json(v, o);
  in.check_size(out.size());
  return Value(std::move(out));
}

Value f_trim(Interpreter&, const Value& v, Args& a) {
  auto p = bind_args("trim", a, {{"chars"}});
  std::optional<std::string> chars;
  if (p[0] && !p[0]->is_none()) chars = soft_str(*p[0]);
  if (v.is_markup() && chars) chars = html_escape(*chars);
  return same_kind(v, py::strip(soft_str(v), chars, true, true));
}

Value f_truncate(Interpreter&, const Value& v, Args& a) {
  auto p = bind_args("truncate", a, {{"length"}, {"killwords"}, {"end"}, {"leeway"}});
  const std::string s = soft_str(v), end = p[2] ? soft_str(*p[2]) : "...";
  const int64_t len = int_arg(p[0], 255, "length"), leeway = int_arg(p[3], 5, "leeway");
  const int64_t end_len = static_cast<int64_t>(py::count_codepoints(end));
  if (len < end_len) throw EvalError("expected length >= " + std::to_string(end_len) + ", got " + std::to_string(len));
  if (leeway < 0) throw EvalError("expected leeway >= 0, got " + std::to_string(leeway));
  if (static_cast<int64_t>(py::count_codepoints(s)) <= len + leeway) return Value(s);
  std::string head = s.substr(0, py::codepoint_offset(s, static_cast<size_t>(len - end_len)));
  if (p[1] && truthy(*p[1])) return Value(head + end);
  return Value(py::split(head, std::string(" "), 1, true)[0] + end);
}

Value f_unique(Interpreter& in, const Value& v, Args& a) {
  auto p = bind_args("unique", a, {{"case_sensitive"}, {"attribute"}});
  const bool cs = p[0] && truthy(*p[0]);
  std::set<std::string> seen;
  std::vector<Value> out;
  for (Value& x : iterate(v)) {
    in.charge(1);
    Value k = sort_key(p[1] && !p[1]->is_none() ? get_path(in, x, *p[1]) : x, cs);
    if (k.is_dict() || (k.is_list() && k.list().kind == SeqKind::kList))
      throw EvalError("unhashable type: '" + type_name(k) + "'");
    // Python's set: 1, 1.0 and True are one key.
    std::string h = k.is_number() && k.number() == std::floor(k.number()) && std::fabs(k.number()) < 9e18
                        ? "n" + std::to_string(static_cast<int64_t>(k.number()))
                        : type_name(k) + ":" + repr(k);
    if (seen.insert(h).second) out.push_back(std::move(x));
  }
  return generator(std::move(out));
}

Value f_wordcount(Interpreter&, const Value& v, Args& a) {
  bind_args("wordcount", a, {});
  int64_t n = 0;
  bool in_word = false;
  for (char32_t c : py::to_u32(soft_str(v))) {  // re.findall(r"\w+")
    const bool w = c == '_' || (c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') ||
                   (c >= 0x80 && py::is_cased(c));
    n += w && !in_word;
    in_word = w;
  }
  return Value(n);
}

const Callable kFilters[] = {
    {"abs", f_abs, nullptr},           {"attr", f_attr, nullptr},
    {"batch", f_batch, nullptr},       {"capitalize", f_capitalize, nullptr},
    {"center", f_center, nullptr},     {"count", f_length, nullptr},
    {"d", f_default, nullptr},         {"default", f_default, nullptr},
    {"dictsort", f_dictsort, nullptr}, {"e", f_escape, nullptr},
    {"escape", f_escape, nullptr},     {"first", f_first, nullptr},
    {"float", f_float, nullptr},       {"forceescape", f_forceescape, nullptr},
    {"format", f_format, nullptr},     {"indent", f_indent, nullptr},
    {"int", f_int, nullptr},           {"items", f_items, nullptr},
    {"join", f_join, nullptr},         {"last", f_last, nullptr},
    {"length", f_length, nullptr},     {"list", f_list, nullptr},
    {"lower", f_lower, nullptr},       {"map", f_map, nullptr},
    {"max", f_max, nullptr},           {"min", f_min, nullptr},
    {"reject", f_reject, nullptr},     {"rejectattr", f_rejectattr, nullptr},
    {"replace", f_replace, nullptr},   {"reverse", f_reverse, nullptr},
    {"round", f_round, nullptr},       {"safe", f_safe, nullptr},
    {"select", f_select, nullptr},     {"selectattr", f_selectattr, nullptr},
    {"sort", f_sort, nullptr},         {"string", f_string, nullptr},
    {"sum", f_sum, nullptr},           {"title", f_title, nullptr},
    {"tojson", f_tojson, nullptr},     {"trim", f_trim, nullptr},
    {"truncate", f_truncate, nullptr}, {"unique", f_unique, nullptr},
    {"upper", f_upper, nullptr},       {"wordcount", f_wordcount, nullptr},
};

}  // namespace

const Callable* find_filter(std::string_view name) {
  for (const Callable& c : kFilters)
    if (name == c.name) return &c;
  return nullptr;
}

bool is_unsupported_jinja_filter(std::string_view name) {
  for (const char* n : {"filesizeformat", "groupby", "pprint", "random", "slice", "striptags",
                        "urlencode", "urlize", "wordwrap", "xmlattr"})
    if (name == n) return true;
  return false;
}

}  // namespace yz::tmpl
