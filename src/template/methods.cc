// Methods templates call on values (message.content.startswith(...), tool.items(),
// loop.cycle(...)) and Python's `str % args`. Mutating methods (list.append, dict.update, ...)
// are refused as transformers' ImmutableSandboxedEnvironment refuses them.
#include <cstdio>
#include <iterator>
#include <unordered_map>

#include "template/interpreter.h"
#include "template/pystr.h"

namespace yz::tmpl {

std::string checked_replace(Interpreter& in, const std::string& s, const std::string& old,
                            const std::string& repl, int64_t count) {
  if (repl.size() > old.size()) {
    uint64_t n = old.empty() ? py::count_codepoints(s) + 1 : static_cast<uint64_t>(py::count(s, old));
    if (count >= 0) n = std::min<uint64_t>(n, static_cast<uint64_t>(count));
    const uint64_t grow = repl.size() - old.size();
    in.check_size(n > (SIZE_MAX - s.size()) / grow ? SIZE_MAX : s.size() + n * grow);
  }
  return py::replace(s, old, repl, count);
}

namespace {

std::string arg_str(const Value* v, const char* fn) {
  if (!v->is_string())
    throw EvalError(std::string(fn) + "() argument must be str, not " + type_name(*v));
  return v->str();
}

std::optional<std::string> opt_str(const Value* v, const char* fn) {
  if (!v || v->is_none()) return std::nullopt;
  return arg_str(v, fn);
}

int64_t opt_int(const Value* v, int64_t dflt, const char* fn) {
  if (!v) return dflt;
  if (!v->is_int())
    throw EvalError(std::string("'") + type_name(*v) + "' object cannot be interpreted as an integer in " + fn);
  return v->integer();
}

bool all_chars(const std::string& s, bool (*pred)(char32_t)) {
  std::u32string u = py::to_u32(s);
  if (u.empty()) return false;
  for (char32_t c : u)
    if (!pred(c)) return false;
  return true;
}

Value str_method(Interpreter& in, const std::string& self, Method m, Args& args) {
  const char* fn = method_name(m);
  if (m == Method::kJoin) {
    auto a = bind_args(fn, args, {{"iterable", true}});
    std::string out;
    bool first = true;
    for (const Value& v : iterate(*a[0])) {
      if (!v.is_string())
        throw EvalError("sequence item: expected str instance, " + type_name(v) + " found");
      if (!first) out += self;
      first = false;
      out += v.str();
      in.check_limit(out.size());
    }
    in.check_size(out.size());
    return Value(std::move(out));
  }
  if (m == Method::kStartswith || m == Method::kEndswith) {
    auto a = bind_args(fn, args, {{"prefix", true}});
    std::vector<Value> options = a[0]->is_list() ? iterate(*a[0]) : std::vector<Value>{*a[0]};
    for (const Value& o : options) {
      if (!o.is_string())
        throw EvalError(std::string(fn) + " first arg must be str or a tuple of str, not " + type_name(o));
      const std::string& p = o.str();
      if (p.size() <= self.size() &&
          (m == Method::kStartswith ? self.compare(0, p.size(), p) == 0
                             : self.compare(self.size() - p.size(), p.size(), p) == 0))
        return Value(true);
    }
    return Value(false);
  }
  if (m == Method::kStrip || m == Method::kLstrip || m == Method::kRstrip) {
    auto a = bind_args(fn, args, {{"chars"}});
    return Value(py::strip(self, opt_str(a[0], fn), m != Method::kRstrip, m != Method::kLstrip));
  }
  if (m == Method::kSplit || m == Method::kRsplit) {
    auto a = bind_args(fn, args, {{"sep"}, {"maxsplit"}});
    std::optional<std::string> sep = opt_str(a[0], fn);
    if (sep && sep->empty()) throw EvalError("empty separator");
    std::vector<std::string> pieces = py::split(self, sep, opt_int(a[1], -1, fn), m == Method::kRsplit);
    std::vector<Value> parts;
    parts.reserve(pieces.size());
    for (auto& p : pieces) parts.emplace_back(std::move(p));
    in.charge(static_cast<int64_t>(parts.size()));
    return Value::list(std::move(parts));
  }
  if (m == Method::kSplitlines) {
    auto a = bind_args(fn, args, {{"keepends"}});
    std::vector<Value> lines;
    for (auto& l : py::splitlines(self, a[0] && truthy(*a[0]))) lines.emplace_back(std::move(l));
    return Value::list(std::move(lines));
  }
  if (m == Method::kReplace) {
    auto a = bind_args(fn, args, {{"old", true}, {"new", true}, {"count"}});
    return Value(checked_replace(in, self, arg_str(a[0], fn), arg_str(a[1], fn), opt_int(a[2], -1, fn)));
  }
  if (m == Method::kLower || m == Method::kUpper || m == Method::kTitle || m == Method::kCapitalize) {
    bind_args(fn, args, {});
    return Value(m == Method::kLower ? py::lower(self) : m == Method::kUpper ? py::upper(self)
                 : m == Method::kTitle ? py::title(self) : py::capitalize(self));
  }
  if (m == Method::kFind || m == Method::kRfind || m == Method::kIndex || m == Method::kRindex || m == Method::kCount) {
    auto a = bind_args(fn, args, {{"sub", true}});
    const std::string sub = arg_str(a[0], fn);
    if (m == Method::kCount) return Value(py::count(self, sub));
    int64_t r = py::find(self, sub, m == Method::kRfind || m == Method::kRindex);
    if (r < 0 && (m == Method::kIndex || m == Method::kRindex)) throw EvalError("substring not found");
    return Value(r);
  }
  bind_args(fn, args, {});
  if (m == Method::kIsdigit) return Value(all_chars(self, [](char32_t c) { return c >= '0' && c <= '9'; }));
  if (m == Method::kIsspace) return Value(all_chars(self, py::is_space));
  if (m == Method::kIslower) return Value(py::is_lower(self));
  if (m == Method::kIsupper) return Value(py::is_upper(self));
  // isalpha / isalnum: ASCII letters and digits, plus any cased letter beyond ASCII.
  auto alpha = [](char32_t c) { return (c | 0x20) >= 'a' && (c | 0x20) <= 'z' ? true : c >= 0x80 && py::is_cased(c); };
  if (m == Method::kIsalpha) return Value(all_chars(self, +alpha));
  return Value(all_chars(self, [](char32_t c) {
    return (c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') || (c >= 0x80 && py::is_cased(c));
  }));
}

// markupsafe.Markup wraps str methods: arguments are escaped, string results stay Markup,
// and join escapes the items it joins.
Value markup_method(Interpreter& in, const Value& self, Method m, Args& args) {
  if (m == Method::kReplace || m == Method::kStrip || m == Method::kLstrip || m == Method::kRstrip) {
    for (Value& v : args.positional)
      if (v.is_string() && !v.is_markup()) v = Value(html_escape(v.str()));
  } else if (m == Method::kJoin && !args.positional.empty()) {
    std::vector<Value> items;
    for (const Value& v : iterate(args.positional[0]))
      items.push_back(v.is_string() && !v.is_markup() ? Value(html_escape(v.str())) : v);
    args.positional[0] = Value::list(std::move(items));
  }
  Value r = str_method(in, self.str(), m, args);
  if (r.is_string()) return Value::markup(r.str());
  if (r.is_list() && (m == Method::kSplit || m == Method::kRsplit || m == Method::kSplitlines)) {
    std::vector<Value> items;
    for (const Value& v : r.list().items) items.push_back(Value::markup(v.str()));
    return Value::list(std::move(items));
  }
  return r;
}

Value dict_method(const Dict& d, const Value& self, Method m, Args& args) {
  if (m == Method::kGet) {
    auto a = bind_args("get", args, {{"key", true}, {"default"}});
    if (!hashable(*a[0])) throw EvalError("unhashable type: '" + type_name(*a[0]) + "'");
    if (const Value* v = d.find_key(*a[0])) return *v;
    return a[1] ? *a[1] : Value::none();
  }
  bind_args(method_name(m), args, {});
  if (m == Method::kCopy) return self;
  std::vector<Value> out;
  out.reserve(d.items.size());
  for (const auto& [k, v] : d.items) {
    if (m == Method::kKeys) out.push_back(k);
    else if (m == Method::kValues) out.push_back(v);
    else out.push_back(Value::list({k, v}, SeqKind::kTuple));
  }
  return Value::list(std::move(out));
}

Value loop_method(LoopObject& loop, Method m, Args& args) {
  if (!args.keyword.empty())
    throw EvalError(std::string("loop.") + method_name(m) + "() takes no keyword arguments");
  if (m == Method::kCycle) {
    if (args.positional.empty()) throw EvalError("no items for cycling given");
    return args.positional[static_cast<size_t>(loop.index0) % args.positional.size()];
  }
  // changed(*values): true when the values differ from the previous call's.
  Value now = Value::list(args.positional, SeqKind::kTuple);
  if (loop.last_changed && equals(*loop.last_changed, now)) return Value(false);
  loop.last_changed = now;
  return Value(true);
}

}  // namespace

// The method table: name, and which types have it (or refuse it as mutating).
namespace {
enum : uint8_t { kOnStr = 1, kOnDict = 2, kDictUnsafe = 4, kOnList = 8, kListUnsafe = 16, kOnLoop = 32 };
struct MethodInfo {
  const char* name;
  uint8_t on;
};
const MethodInfo kMethods[] = {
    {"", 0},  // Method::kNone
#define YZ_METHOD(id, name, on) {name, on},
    YZ_TEMPLATE_METHODS(YZ_METHOD)
#undef YZ_METHOD
};
}  // namespace

const char* method_name(Method m) { return kMethods[static_cast<size_t>(m)].name; }

Method method_from_name(std::string_view name) {
  static const std::unordered_map<std::string_view, Method> kByName = [] {
    std::unordered_map<std::string_view, Method> map;
    for (size_t i = 1; i < std::size(kMethods); ++i) map.emplace(kMethods[i].name, static_cast<Method>(i));
    return map;
  }();
  auto it = kByName.find(name);
  return it == kByName.end() ? Method::kNone : it->second;
}

MethodKind method_kind(const Value& self, Method m) {
  const uint8_t on = kMethods[static_cast<size_t>(m)].on;
  if (self.is_string()) return on & kOnStr ? MethodKind::kSafe : MethodKind::kNone;
  if (self.is_dict())
    return on & kOnDict ? MethodKind::kSafe : on & kDictUnsafe ? MethodKind::kUnsafe : MethodKind::kNone;
  if (self.is_list()) {
    if (on & kOnList) return MethodKind::kSafe;
    if (self.list().kind == SeqKind::kList && (on & kListUnsafe)) return MethodKind::kUnsafe;
  }
  if (self.is_object(Object::Type::kLoop) && (on & kOnLoop)) return MethodKind::kSafe;
  return MethodKind::kNone;
}

std::optional<Value> lookup_method(const Value& self, Method m) {
  switch (method_kind(self, m)) {
    case MethodKind::kSafe: return Value::object(std::make_shared<MethodObject>(self, m));
    case MethodKind::kUnsafe:
      return Value::undefined(std::string("access to attribute '") + method_name(m) + "' of '" +
                              type_name(self) + "' object is unsafe.");
    case MethodKind::kNone: break;
  }
  return std::nullopt;
}

Value call_method(Interpreter& in, const Value& self, Method m, Args& args) {
  if (self.is_markup()) return markup_method(in, self, m, args);
  if (self.is_string()) return str_method(in, self.str(), m, args);
  if (self.is_dict()) return dict_method(self.dict(), self, m, args);
  if (self.is_object(Object::Type::kLoop)) return loop_method(*static_cast<LoopObject*>(self.object()), m, args);
  // list.index / list.count
  auto a = bind_args(method_name(m), args, {{"value", true}});
  const auto& items = self.list().items;
  in.charge(static_cast<int64_t>(items.size()));
  int64_t n = 0;
  for (size_t i = 0; i < items.size(); ++i) {
    if (!equals(items[i], *a[0])) continue;
    if (m == Method::kIndex) return Value(static_cast<int64_t>(i));
    ++n;
  }
  if (m == Method::kIndex) throw EvalError(repr(*a[0]) + " is not in list");
  return Value(n);
}

std::string percent_format(const std::string& fmt, const Value& args, bool escape_args) {
  // printf-style formatting (CPython's PyUnicode_Format) for %s %r %a %d %i %u %x %X %o %e %E
  // %f %F %g %G %c %%, with flags, width and precision; mapping keys ("%(name)s") too.
  std::vector<Value> pos;
  const bool mapping = args.is_dict();
  if (args.is_list() && args.list().kind == SeqKind::kTuple) pos = args.list().items;
  else if (!mapping) pos.push_back(args);
  size_t next = 0;
  std::string out;
  for (size_t i = 0; i < fmt.size(); ++i) {
    if (fmt[i] != '%') {
      out += fmt[i];
      continue;
    }
    if (++i >= fmt.size()) throw EvalError("incomplete format");
    Value arg;
    bool have = false;
    if (fmt[i] == '(') {
      size_t close = fmt.find(')', i);
      if (!mapping || close == std::string::npos) throw EvalError("format requires a mapping");
      const Value* v = args.dict().find(std::string_view(fmt).substr(i + 1, close - i - 1));
      if (!v) throw EvalError("KeyError: '" + fmt.substr(i + 1, close - i - 1) + "'");
      arg = *v, have = true;
      i = close + 1;
    }
    std::string flags;
    while (i < fmt.size() && std::string("-+ #0").find(fmt[i]) != std::string::npos) flags += fmt[i++];
    std::string width, prec;
    while (i < fmt.size() && fmt[i] >= '0' && fmt[i] <= '9') width += fmt[i++];
    if (i < fmt.size() && fmt[i] == '.') {
      prec = ".";
      ++i;
      while (i < fmt.size() && fmt[i] >= '0' && fmt[i] <= '9') prec += fmt[i++];
    }
    if (i >= fmt.size()) throw EvalError("incomplete format");
    if (width.size() > 3 || prec.size() > 4) throw EvalError("format width or precision above 999");
    const char conv = fmt[i];
    if (conv == '%') {
      out += '%';
      continue;
    }
    if (!have) {
      if (next >= pos.size()) throw EvalError("not enough arguments for format string");
      arg = pos[next++];
    }
    std::string spec = "%" + flags + width + prec;
    char buf[2048];
    std::string piece;
    switch (conv) {
      case 's': case 'r': case 'a': {
        piece = conv == 's' ? to_str(arg) : repr(arg);
        if (escape_args && !arg.is_markup()) piece = html_escape(piece);
        if (prec.size() > 1)
          piece = piece.substr(0, py::codepoint_offset(piece, std::stoul(prec.substr(1))));
        size_t w = width.empty() ? 0 : std::stoul(width), n = py::count_codepoints(piece);
        if (n < w) piece = flags.find('-') != std::string::npos ? piece + std::string(w - n, ' ')
                                                             : std::string(w - n, ' ') + piece;
        break;
      }
      case 'd': case 'i': case 'u': case 'x': case 'X': case 'o': {
        if (!arg.is_number() || (arg.kind() == Value::Kind::kFloat && conv != 'd' && conv != 'i' && conv != 'u'))
          throw EvalError(std::string("%") + conv + " format: a number is required, not " + type_name(arg));
        long long v = arg.is_int() ? arg.integer() : static_cast<long long>(arg.number());
        spec += std::string("ll") + (conv == 'u' || conv == 'i' ? 'd' : conv);
        std::snprintf(buf, sizeof buf, spec.c_str(), v);
        piece = buf;
        break;
      }
      case 'e': case 'E': case 'f': case 'F': case 'g': case 'G':
        if (!arg.is_number())
          throw EvalError(std::string("must be real number, not ") + type_name(arg));
        std::snprintf(buf, sizeof buf, (spec + conv).c_str(), arg.number());
        piece = buf;
        break;
      case 'c':
        if (arg.is_int() && arg.integer() >= 0 && arg.integer() <= 0x10FFFF &&
            !(arg.integer() >= 0xD800 && arg.integer() <= 0xDFFF))
          py::append_utf8(&piece, static_cast<char32_t>(arg.integer()));
        else if (arg.is_string() && py::count_codepoints(arg.str()) == 1) piece = arg.str();
        else throw EvalError("%c requires int or char");
        break;
      default:
        throw EvalError(std::string("unsupported format character '") + conv + "'");
    }
    out += piece;
  }
  if (!mapping && next < pos.size())
    throw EvalError("not all arguments converted during string formatting");
  return out;
}

}  // namespace yz::tmpl
