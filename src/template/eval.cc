// Expression evaluation: operators with Python's semantics (int/float promotion, floor
// division and modulo signs, str/list concatenation and repetition), the sandbox's getattr /
// getitem (jinja2/sandbox.py, jinja2/environment.py), slicing, calls and the globals.
#include <cmath>
#include <ctime>

#include "template/filters.h"
#include "template/interpreter.h"
#include "template/parser.h"
#include "template/pystr.h"

namespace yz::tmpl {

using ast::BinOp;
using ast::CmpOp;
using ast::ExprKind;

namespace {

[[noreturn]] void unsupported(const char* op, const Value& a, const Value& b) {
  throw EvalError(std::string("unsupported operand type(s) for ") + op + ": '" + type_name(a) +
                  "' and '" + type_name(b) + "'");
}

[[noreturn]] void overflow() { throw EvalError("integer overflow (results must fit in 64 bits)"); }
int64_t add(int64_t a, int64_t b) {
  int64_t r;
  if (__builtin_add_overflow(a, b, &r)) overflow();
  return r;
}
int64_t sub(int64_t a, int64_t b) {
  int64_t r;
  if (__builtin_sub_overflow(a, b, &r)) overflow();
  return r;
}
int64_t mul(int64_t a, int64_t b) {
  int64_t r;
  if (__builtin_mul_overflow(a, b, &r)) overflow();
  return r;
}

// CPython float_floor_div / float_rem.
double py_fmod(double x, double y) {
  double mod = std::fmod(x, y);
  if (mod != 0) {
    if ((y < 0) != (mod < 0)) mod += y;
  } else {
    mod = std::copysign(0.0, y);
  }
  return mod;
}

double py_floordiv(double x, double y) {
  double mod = std::fmod(x, y);
  double div = (x - mod) / y;
  if (mod != 0 && ((y < 0) != (mod < 0))) div -= 1.0;
  if (div == 0) return std::copysign(0.0, x / y);
  double floordiv = std::floor(div);
  if (div - floordiv > 0.5) floordiv += 1.0;
  return floordiv;
}

Value repeat(Interpreter& in, const Value& seq, int64_t n) {
  if (n < 0) n = 0;
  size_t total;
  const size_t unit = seq.is_string() ? seq.str().size() : seq.list().items.size();
  if (__builtin_mul_overflow(unit, static_cast<size_t>(n), &total)) total = SIZE_MAX;
  if (seq.is_string()) {
    in.check_size(total);
    std::string out;
    out.reserve(seq.str().size() * static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) out += seq.str();
    return seq.is_markup() ? Value::markup(std::move(out)) : Value(std::move(out));
  }
  const auto& items = seq.list().items;
  in.charge(total > static_cast<size_t>(INT64_MAX) ? -1 : static_cast<int64_t>(total));
  std::vector<Value> out;
  for (int64_t i = 0; i < n; ++i) out.insert(out.end(), items.begin(), items.end());
  return Value::list(std::move(out), seq.list().kind);
}

bool is_sequence(const Value& v) { return v.is_list() && v.list().kind != SeqKind::kGenerator; }

// Python slice.indices() + the selected positions.
std::vector<int64_t> slice_positions(int64_t len, const Value& start, const Value& stop,
                                     const Value& step) {
  int64_t st = step.is_none() ? 1 : step.integer();
  if (st == 0) throw EvalError("slice step cannot be zero");
  auto adjust = [&](const Value& v, int64_t dflt) {
    if (v.is_none()) return dflt;
    int64_t x = v.integer();
    if (x < 0) {
      x += len;
      if (x < 0) x = st < 0 ? -1 : 0;
    } else if (x >= len) {
      x = st < 0 ? len - 1 : len;
    }
    return x;
  };
  int64_t b = adjust(start, st < 0 ? len - 1 : 0), e = adjust(stop, st < 0 ? -1 : len);
  std::vector<int64_t> out;
  for (int64_t i = b; st > 0 ? i < e : i > e; i += st) out.push_back(i);
  return out;
}

std::string strftime_now(const std::string& fmt, std::chrono::system_clock::time_point now) {
  // CPython's datetime.strftime: %f is microseconds and %z/%Z are empty for the naive
  // datetime.now(); everything else goes to the C library's strftime.
  const auto micros = std::chrono::duration_cast<std::chrono::microseconds>(
                          now.time_since_epoch()).count() % 1000000;
  std::string f;
  for (size_t i = 0; i < fmt.size(); ++i) {
    if (fmt[i] == '%' && i + 1 < fmt.size()) {
      const char c = fmt[++i];
      if (c == 'f') {
        char buf[8];
        std::snprintf(buf, sizeof buf, "%06lld", static_cast<long long>(micros < 0 ? micros + 1000000 : micros));
        f += buf;
      } else if (c != 'z' && c != 'Z') {
        f += '%';
        f += c;
      }
    } else {
      f += fmt[i] == '%' ? "%%" : std::string(1, fmt[i]);
    }
  }
  const std::time_t t = std::chrono::system_clock::to_time_t(now);
  std::tm tm{};
  localtime_r(&t, &tm);
  if (f.empty()) return "";
  for (size_t cap = 256; cap <= (1u << 20); cap *= 4) {
    std::string buf(cap, '\0');
    size_t n = std::strftime(buf.data(), cap, f.c_str(), &tm);
    if (n > 0) return buf.substr(0, n);
  }
  return "";
}

}  // namespace

Value Interpreter::eval(const ast::Expr& e, const std::shared_ptr<Scope>& scope) {
  try {
    return eval_inner(e, scope);
  } catch (const EvalError& err) {
    throw LocatedError(err.what(), e.pos, dynamic_cast<const RaisedError*>(&err) != nullptr);
  }
}

const Value& Interpreter::eval_ref(const ast::Expr& e, const std::shared_ptr<Scope>& scope, Value* tmp) {
  try {
    return eval_ref_inner(e, scope, tmp);
  } catch (const EvalError& err) {
    throw LocatedError(err.what(), e.pos, dynamic_cast<const RaisedError*>(&err) != nullptr);
  }
}

const Value& Interpreter::eval_ref_inner(const ast::Expr& e, const std::shared_ptr<Scope>& scope,
                                         Value* tmp) {
  switch (e.kind) {
    case ExprKind::kLiteral: return e.literal;
    case ExprKind::kName:
      if (const Value* v = scope->find(e.name)) return *v;
      return *tmp = lookup(e.name, scope);
    case ExprKind::kGetAttr: {
      Value obj_tmp;
      const Value& obj = eval_ref(*e.a, scope, &obj_tmp);
      // message.content: a plain member of a dict (no method of that name, not a dunder).
      if (obj.is_dict() && e.method == Method::kNone && !(e.name.size() > 1 && e.name[0] == '_' && e.name[1] == '_')) {
        if (const Value* v = obj.dict().find(e.name)) return &obj == &obj_tmp ? (*tmp = *v) : *v;
      }
      return *tmp = getattr(obj, e.name, e.method, &e.name);
    }
    case ExprKind::kGetItem: {
      Value obj_tmp, key_tmp;
      const Value& obj = eval_ref(*e.a, scope, &obj_tmp);
      const Value& key = eval_ref(*e.b, scope, &key_tmp);
      const Value* member = nullptr;
      if (obj.is_dict() && key.is_string()) {
        member = obj.dict().find(key.str());
      } else if (is_sequence(obj) && key.is_int()) {
        const auto& items = obj.list().items;
        const int64_t i = key.integer() < 0 ? key.integer() + static_cast<int64_t>(items.size()) : key.integer();
        if (i >= 0 && i < static_cast<int64_t>(items.size())) member = &items[static_cast<size_t>(i)];
      }
      if (member) return &obj == &obj_tmp ? (*tmp = *member) : *member;
      return *tmp = getitem(obj, key);
    }
    default:
      return *tmp = eval_inner(e, scope);
  }
}

// The common node kinds stay in this switch; the rest are separate functions, so the frame of
// this function (entered once per node) stays small.
Value Interpreter::eval_inner(const ast::Expr& e, const std::shared_ptr<Scope>& scope) {
  switch (e.kind) {
    case ExprKind::kLiteral: return e.literal;
    case ExprKind::kName: return lookup(e.name, scope);
    case ExprKind::kGetAttr:
    case ExprKind::kGetItem: {
      Value tmp;
      const Value& v = eval_ref_inner(e, scope, &tmp);
      if (&v == &tmp) return tmp;
      return v;
    }
    case ExprKind::kCall: return eval_call(e, scope);
    case ExprKind::kFilter: return eval_filter_chain(e, scope, nullptr);
    case ExprKind::kTest: return eval_test(e, scope);
    case ExprKind::kNot: {
      Value tmp;
      return Value(!truthy(eval_ref(*e.a, scope, &tmp)));
    }
    case ExprKind::kBinary: {
      if (e.bin_op == BinOp::kAdd) {
        Value r;
        eval_add(e, scope, nullptr, &r);
        return r;
      }
      Value a = eval(*e.a, scope);
      Value b = eval(*e.b, scope);
      return eval_binary(e, a, b);
    }
    case ExprKind::kAnd: {
      Value a = eval(*e.a, scope);
      return truthy(a) ? eval(*e.b, scope) : a;
    }
    case ExprKind::kOr: {
      Value a = eval(*e.a, scope);
      return truthy(a) ? a : eval(*e.b, scope);
    }
    case ExprKind::kCompare: return eval_compare(e, scope);
    case ExprKind::kCond:
      if (truthy(eval(*e.a, scope))) return eval(*e.b, scope);
      if (e.c) return eval(*e.c, scope);
      return Value::undefined(
          "the inline if-expression evaluated to false and no else section was defined.");
    default: return eval_other(e, scope);
  }
}

Value Interpreter::eval_test(const ast::Expr& e, const std::shared_ptr<Scope>& scope) {
  Value tmp;
  const Value& input = eval_ref(*e.a, scope, &tmp);
  ArgsLease lease(this);
  Args& args = *lease;
  eval_args(e.call, scope, &args);
  return Value(e.fn->test(*this, input, args));
}

// Slices, unary minus/plus, ~, and list/tuple/dict literals.
Value Interpreter::eval_other(const ast::Expr& e, const std::shared_ptr<Scope>& scope) {
  switch (e.kind) {
    case ExprKind::kSlice: {
      Value obj = eval(*e.a, scope);
      Value parts[3];
      const ast::Expr* exprs[3] = {e.b.get(), e.c.get(), e.d.get()};
      bool ok = true;
      for (int i = 0; i < 3; ++i) {
        parts[i] = exprs[i] ? eval(*exprs[i], scope) : Value::none();
        ok = ok && (parts[i].is_none() || parts[i].is_int());
      }
      if (obj.is_undefined()) fail_undefined(obj);
      if (!ok || !(obj.is_string() || is_sequence(obj)))  // TypeError: getitem gives Undefined
        return Value::undefined(object_type_repr(obj) + " has no element slice");
      if (obj.is_string()) {
        std::u32string u = py::to_u32(obj.str()), r;
        for (int64_t i : slice_positions(static_cast<int64_t>(u.size()), parts[0], parts[1], parts[2]))
          r.push_back(u[static_cast<size_t>(i)]);
        return obj.is_markup() ? Value::markup(py::to_utf8(r)) : Value(py::to_utf8(r));
      }
      const auto& items = obj.list().items;
      std::vector<Value> out;
      for (int64_t i : slice_positions(static_cast<int64_t>(items.size()), parts[0], parts[1], parts[2]))
        out.push_back(items[static_cast<size_t>(i)]);
      charge(static_cast<int64_t>(out.size()));
      return Value::list(std::move(out), obj.list().kind);
    }
    case ExprKind::kNeg:
    case ExprKind::kPos: {
      Value v = eval(*e.a, scope);
      if (v.is_undefined()) fail_undefined(v);
      const bool neg = e.kind == ExprKind::kNeg;
      if (v.kind() == Value::Kind::kFloat) return Value(neg ? -v.number() : v.number());
      if (v.is_int()) return Value(neg ? sub(0, v.integer()) : v.integer());
      throw EvalError(std::string("bad operand type for unary ") + (neg ? "-" : "+") + ": '" +
                      type_name(v) + "'");
    }
    case ExprKind::kConcat: {
      std::string s;
      for (const auto& item : e.items) {
        append_str(eval(*item, scope), &s);
        check_limit(s.size());
      }
      check_size(s.size());
      return Value(std::move(s));
    }
    case ExprKind::kList:
    case ExprKind::kTuple: {
      std::vector<Value> items;
      items.reserve(e.items.size());
      for (const auto& x : e.items) items.push_back(eval(*x, scope));
      return Value::list(std::move(items), e.kind == ExprKind::kList ? SeqKind::kList : SeqKind::kTuple);
    }
    case ExprKind::kDict: {
      std::vector<std::pair<Value, Value>> items;
      for (size_t i = 0; i < e.items.size(); i += 2) {
        Value k = eval(*e.items[i], scope);
        if (!hashable(k)) throw EvalError("unhashable type: '" + type_name(k) + "'");
        Value v = eval(*e.items[i + 1], scope);
        bool replaced = false;  // a repeated key keeps its first position, takes the last value
        for (auto& kv : items)
          if (equals(kv.first, k)) kv.second = v, replaced = true;
        if (!replaced) items.emplace_back(std::move(k), std::move(v));
      }
      return Value::dict(std::move(items));
    }
    default:
      break;
  }
  return Value();
}

// a + b + c + ...: the same left-to-right evaluation as nested additions, but a run of plain
// strings is appended into one buffer instead of copying the growing prefix at every `+`
// (templates build each turn this way). With a `sink` (the output of {{ a + b }}), a plain
// string result is appended to it directly and true is returned; otherwise *result is set.
bool Interpreter::eval_add(const ast::Expr& e, const std::shared_ptr<Scope>& scope,
                           std::string* sink, Value* result) {
  // The `+` nodes, outermost first (the parser bounds a chain to kMaxParseNesting links).
  const ast::Expr* chain[kMaxParseNesting + 1];
  size_t links = 0;
  const ast::Expr* leftmost = &e;
  while (leftmost->kind == ExprKind::kBinary && leftmost->bin_op == BinOp::kAdd) {
    chain[links++] = leftmost;
    leftmost = leftmost->a.get();
  }
  std::string local;
  std::string* buf = sink ? sink : &local;
  const size_t start = buf->size();
  bool buffering = false;  // the running sum is buf[start:]
  auto plain = [](const Value& v) { return v.is_string() && !v.is_markup(); };
  Value acc = eval(*leftmost, scope);
  for (size_t k = links; k-- > 0;) {
    const ast::Expr* const* it = &chain[k];
    Value b = eval(*(*it)->b, scope);
    if ((buffering || plain(acc)) && plain(b)) {
      if (!buffering) *buf += acc.str(), buffering = true;
      *buf += b.str();
      check_limit(buf->size());
      continue;
    }
    if (buffering) {
      acc = Value(buf->substr(start));
      buf->resize(start);
      buffering = false;
    }
    try {
      acc = eval_binary(**it, acc, b);
    } catch (const EvalError& err) {
      throw LocatedError(err.what(), (*it)->pos, false);
    }
  }
  if (!buffering) {
    *result = std::move(acc);
    return false;
  }
  charge(static_cast<int64_t>((buf->size() - start) >> 8));
  if (sink) return true;
  *result = Value(std::move(local));
  return false;
}

Value Interpreter::eval_binary(const ast::Expr& e, const Value& a, const Value& b) {
  if (a.is_undefined()) fail_undefined(a);
  if (b.is_undefined()) fail_undefined(b);
  const bool ints = a.is_int() && b.is_int();
  const bool nums = a.is_number() && b.is_number();
  switch (e.bin_op) {
    case BinOp::kAdd:
      if (ints) return Value(add(a.integer(), b.integer()));
      if (nums) return Value(a.number() + b.number());
      if (a.is_string() && b.is_string()) {
        check_size(a.str().size() + b.str().size());
        // Markup + str escapes the str (and str + Markup escapes the left side).
        if (a.is_markup() || b.is_markup())
          return Value::markup((a.is_markup() ? a.str() : html_escape(a.str())) +
                               (b.is_markup() ? b.str() : html_escape(b.str())));
        return Value(a.str() + b.str());
      }
      if (is_sequence(a) && is_sequence(b) && a.list().kind == b.list().kind) {
        std::vector<Value> items = a.list().items;
        items.insert(items.end(), b.list().items.begin(), b.list().items.end());
        charge(static_cast<int64_t>(items.size()));
        return Value::list(std::move(items), a.list().kind);
      }
      if (a.is_string() || is_sequence(a))
        throw EvalError("can only concatenate " + type_name(a) + " (not \"" + type_name(b) +
                        "\") to " + type_name(a));
      unsupported("+", a, b);
    case BinOp::kSub:
      if (ints) return Value(sub(a.integer(), b.integer()));
      if (nums) return Value(a.number() - b.number());
      unsupported("-", a, b);
    case BinOp::kMul:
      if (ints) return Value(mul(a.integer(), b.integer()));
      if (nums) return Value(a.number() * b.number());
      if ((a.is_string() || is_sequence(a)) && b.is_int()) return repeat(*this, a, b.integer());
      if (a.is_int() && (b.is_string() || is_sequence(b))) return repeat(*this, b, a.integer());
      unsupported("*", a, b);
    case BinOp::kDiv:
      if (!nums) unsupported("/", a, b);
      if (b.number() == 0) throw EvalError("division by zero");
      return Value(a.number() / b.number());
    case BinOp::kFloorDiv:
      if (!nums) unsupported("//", a, b);
      if (b.number() == 0)
        throw EvalError(ints ? "integer division or modulo by zero" : "float floor division by zero");
      if (ints) {
        if (a.integer() == INT64_MIN && b.integer() == -1) overflow();
        int64_t q = a.integer() / b.integer();
        if ((a.integer() % b.integer() != 0) && ((a.integer() < 0) != (b.integer() < 0))) --q;
        return Value(q);
      }
      return Value(py_floordiv(a.number(), b.number()));
    case BinOp::kMod:
      if (a.is_string()) {
        if (!a.is_markup()) return Value(percent_format(a.str(), b));
        // Markup % args: every argument is escaped before formatting.
        return Value::markup(percent_format(a.str(), b, /*escape_args=*/true));
      }
      if (!nums) unsupported("%", a, b);
      if (b.number() == 0) throw EvalError(ints ? "integer division or modulo by zero" : "float modulo");
      if (ints) {
        if (b.integer() == -1) return Value(int64_t{0});
        int64_t m = a.integer() % b.integer();
        if (m != 0 && ((m < 0) != (b.integer() < 0))) m += b.integer();
        return Value(m);
      }
      return Value(py_fmod(a.number(), b.number()));
    case BinOp::kPow:
      if (!nums) unsupported("** or pow()", a, b);
      if (ints && b.integer() >= 0) {
        int64_t base = a.integer(), exp = b.integer(), acc = 1;
        while (exp > 0) {
          if (exp & 1) acc = mul(acc, base);
          exp >>= 1;
          if (exp) base = mul(base, base);
        }
        return Value(acc);
      }
      if (a.number() == 0 && b.number() < 0)
        throw EvalError("0.0 cannot be raised to a negative power");
      if (a.number() < 0 && std::floor(b.number()) != b.number())
        throw EvalError("a negative number to a fractional power is complex; not supported");
      return Value(std::pow(a.number(), b.number()));
  }
  return Value();
}

namespace {
// Python's `item in container`.
bool contains(Interpreter& in, const Value& container, const Value& item) {
  switch (container.kind()) {
    case Value::Kind::kUndefined: return false;
    case Value::Kind::kString:
      if (!item.is_string())
        throw EvalError("'in <string>' requires string as left operand, not " + type_name(item));
      return container.str().find(item.str()) != std::string::npos;
    case Value::Kind::kList: {
      const List& l = container.list();
      for (size_t i = l.kind == SeqKind::kGenerator ? l.consumed : 0; i < l.items.size(); ++i) {
        in.charge(1);
        if (l.kind == SeqKind::kGenerator) l.consumed = i + 1;
        if (equals(l.items[i], item)) return true;
      }
      return false;
    }
    case Value::Kind::kDict:
      if (!hashable(item)) throw EvalError("unhashable type: '" + type_name(item) + "'");
      return container.dict().find_key(item) != nullptr;
    default:
      throw EvalError("argument of type '" + type_name(container) + "' is not iterable");
  }
}
}  // namespace

Value Interpreter::eval_compare(const ast::Expr& e, const std::shared_ptr<Scope>& scope) {
  Value temps[2];  // operands alternate between them as the chain a < b < c advances
  const Value* left = &eval_ref(*e.a, scope, &temps[0]);
  for (size_t i = 0; i < e.cmp_ops.size(); ++i) {
    // left is borrowed or in temps[i % 2], so the other slot is free for right.
    const Value& right = eval_ref(*e.items[i], scope, &temps[(i + 1) % 2]);
    bool ok = false;
    switch (e.cmp_ops[i]) {
      case CmpOp::kEq: ok = equals(*left, right); break;
      case CmpOp::kNe: ok = !equals(*left, right); break;
      case CmpOp::kLt: ok = compare(*left, right, "<") == -1; break;
      case CmpOp::kLe: { int c = compare(*left, right, "<="); ok = c == -1 || c == 0; break; }
      case CmpOp::kGt: ok = compare(*left, right, ">") == 1; break;
      case CmpOp::kGe: { int c = compare(*left, right, ">="); ok = c == 1 || c == 0; break; }
      case CmpOp::kIn: ok = contains(*this, right, *left); break;
      case CmpOp::kNotIn: ok = !contains(*this, right, *left); break;
    }
    if (!ok) return Value(false);
    left = &right;
  }
  return Value(true);
}

void Interpreter::eval_args(const ast::CallArgs& c, const std::shared_ptr<Scope>& scope, Args* out) {
  for (const auto& a : c.args) out->positional.push_back(eval(*a, scope));
  for (const auto& [k, v] : c.kwargs) out->keyword.emplace_back(k, eval(*v, scope));
  if (c.star_args)
    for (Value& v : iterate(eval(*c.star_args, scope))) out->positional.push_back(std::move(v));
  if (c.star_kwargs) {
    Value d = eval(*c.star_kwargs, scope);
    if (!d.is_dict()) throw EvalError("argument after ** must be a mapping, not " + type_name(d));
    for (const auto& [k, v] : d.dict().items) {
      if (!k.is_string()) throw EvalError("keywords must be strings");
      out->keyword.emplace_back(k.str(), v);
    }
  }
}

Value Interpreter::eval_call(const ast::Expr& e, const std::shared_ptr<Scope>& scope) {
  Value callee;
  if (e.a->kind == ExprKind::kGetAttr) {
    // obj.method(...) on a str/dict/list calls the method without building a bound method.
    Value obj_tmp;
    const Value& obj = eval_ref(*e.a->a, scope, &obj_tmp);
    if (e.a->method != Method::kNone && method_kind(obj, e.a->method) == MethodKind::kSafe &&
        !obj.is_object(Object::Type::kLoop)) {
      ArgsLease lease(this);
      Args& args = *lease;
      eval_args(e.call, scope, &args);
      return call_method(*this, obj, e.a->method, args);
    }
    callee = getattr(obj, e.a->name, e.a->method, &e.a->name);
  } else {
    callee = eval(*e.a, scope);
  }
  ArgsLease lease(this);
  Args& args = *lease;
  eval_args(e.call, scope, &args);
  return call(callee, args);
}

Value Interpreter::eval_filter_chain(const ast::Expr& e, const std::shared_ptr<Scope>& scope,
                                     const Value* input) {
  Value tmp;
  const Value* base = &tmp;
  if (!e.a) base = input;
  else if (input && e.a->kind == ExprKind::kFilter) tmp = eval_filter_chain(*e.a, scope, input);
  else base = &eval_ref(*e.a, scope, &tmp);
  ArgsLease lease(this);
  Args& args = *lease;
  eval_args(e.call, scope, &args);
  try {
    return e.fn->filter(*this, *base, args);
  } catch (const EvalError& err) {
    throw LocatedError(err.what(), e.pos, dynamic_cast<const RaisedError*>(&err) != nullptr);
  }
}

Value Interpreter::apply_filter(const std::string& name, const Value& input, Args& args) {
  const Callable* c = find_filter(name);
  if (!c) throw EvalError("no filter named '" + name + "'");
  return c->filter(*this, input, args);
}

bool Interpreter::apply_test(const std::string& name, const Value& input, Args& args) {
  const Callable* c = find_test(name);
  if (!c) throw EvalError("no test named '" + name + "'");
  return c->test(*this, input, args);
}

Value Interpreter::getattr(const Value& obj, const std::string& name) {
  return getattr(obj, name, method_from_name(name));
}

Value Interpreter::getattr(const Value& obj, const std::string& name, Method method,
                           const std::string* stable_name) {
  if (obj.is_undefined()) fail_undefined(obj);
  if (name.size() > 4 && name.compare(0, 2, "__") == 0 && name.compare(name.size() - 2, 2, "__") == 0)
    return Value::undefined("access to attribute '" + name + "' of '" + type_name(obj) +
                            "' object is unsafe.");
  if (obj.is_object(Object::Type::kNamespace)) {
    for (const auto& kv : static_cast<NamespaceObject*>(obj.object())->attrs)
      if (kv.first == name) return kv.second;
  } else if (obj.is_object(Object::Type::kLoop)) {
    return static_cast<LoopObject*>(obj.object())->attribute(name, method);
  } else if (std::optional<Value> m = lookup_method(obj, method)) {
    return *m;
  } else if (obj.is_dict()) {
    if (const Value* v = obj.dict().find(name)) return *v;
  }
  if (stable_name) return Value::undefined_attribute(obj, stable_name);
  return Value::undefined("'" + object_type_repr(obj) + "' has no attribute '" + name + "'");
}

Value Interpreter::getitem(const Value& obj, const Value& key) {
  if (obj.is_undefined()) fail_undefined(obj);
  if (key.is_int() && (is_sequence(obj) || obj.is_string())) {
    const int64_t n = length(obj);
    int64_t i = key.integer();
    if (i < 0) i += n;
    if (i >= 0 && i < n) {
      if (obj.is_list()) return obj.list().items[static_cast<size_t>(i)];
      const size_t b = py::codepoint_offset(obj.str(), static_cast<size_t>(i));
      std::string ch = obj.str().substr(b, py::codepoint_offset(obj.str(), static_cast<size_t>(i) + 1) - b);
      return obj.is_markup() ? Value::markup(std::move(ch)) : Value(std::move(ch));
    }
  } else if (obj.is_dict() && hashable(key)) {
    if (const Value* v = obj.dict().find_key(key)) return *v;
  }
  // obj[key] failed: a string key falls back to the attribute of that name.
  if (key.is_string()) return getattr(obj, key.str());
  return Value::undefined(object_type_repr(obj) + " has no element " + repr(key));
}

Value Interpreter::call(const Value& callee, Args& args) {
  if (callee.is_undefined()) fail_undefined(callee);
  if (callee.kind() != Value::Kind::kObject)
    throw EvalError("'" + type_name(callee) + "' object is not callable");
  Object* o = callee.object();
  switch (o->type) {
    case Object::Type::kMacro: return call_macro(*static_cast<MacroObject*>(o), args);
    case Object::Type::kFunction: return call_function(*static_cast<FunctionObject*>(o), args);
    case Object::Type::kMethod: {
      auto* m = static_cast<MethodObject*>(o);
      return call_method(*this, m->self, m->method, args);
    }
    case Object::Type::kLoop: {
      auto* loop = static_cast<LoopObject*>(o);
      if (!loop->def->recursive)
        throw EvalError("Tried to call non recursive loop. Maybe you forgot the 'recursive' modifier.");
      auto a = bind_args("loop", args, {{"iterable", true}});
      DepthGuard guard(this);
      std::string buf;
      exec_for(*loop->def, *a[0], loop->depth0 + 1, loop->scope, &buf);
      return Value(std::move(buf));
    }
    case Object::Type::kJoiner: {
      auto* j = static_cast<JoinerObject*>(o);
      bind_args("joiner", args, {});
      if (!j->used) {
        j->used = true;
        return Value("");
      }
      return Value(j->sep);
    }
    case Object::Type::kNamespace: break;
  }
  throw EvalError("'" + type_name(callee) + "' object is not callable");
}

Value Interpreter::call_function(FunctionObject& f, Args& args) {
  using Fn = FunctionObject::Fn;
  switch (f.fn) {
    case Fn::kRaiseException: {
      auto a = bind_args("raise_exception", args, {{"message", true}});
      throw RaisedError(to_str(*a[0]));
    }
    case Fn::kStrftimeNow: {
      auto a = bind_args("strftime_now", args, {{"format", true}});
      if (!a[0]->is_string()) throw EvalError("strftime_now() argument must be str");
      auto now = options_.clock ? options_.clock() : std::chrono::system_clock::now();
      return Value(strftime_now(a[0]->str(), now));
    }
    case Fn::kRange: {
      if (!args.keyword.empty()) throw EvalError("range() takes no keyword arguments");
      const auto& p = args.positional;
      if (p.empty() || p.size() > 3)
        throw EvalError("range expected 1 to 3 arguments, got " + std::to_string(p.size()));
      for (const Value& v : p)
        if (!v.is_int())
          throw EvalError("'" + type_name(v) + "' object cannot be interpreted as an integer");
      int64_t start = p.size() > 1 ? p[0].integer() : 0;
      int64_t stop = p.size() > 1 ? p[1].integer() : p[0].integer();
      int64_t step = p.size() > 2 ? p[2].integer() : 1;
      if (step == 0) throw EvalError("range() arg 3 must not be zero");
      // jinja2.sandbox.safe_range: MAX_RANGE = 100000.
      long double count = step > 0 ? (static_cast<long double>(stop) - start + step - 1) / step
                                   : (static_cast<long double>(start) - stop - step - 1) / -step;
      if (count > 100000)
        throw EvalError("Range too big. The sandbox blocks ranges larger than MAX_RANGE (100000).");
      std::vector<Value> out;
      for (int64_t i = start; step > 0 ? i < stop : i > stop; i += step) out.emplace_back(i);
      charge(static_cast<int64_t>(out.size()));
      return Value::list(std::move(out));
    }
    case Fn::kNamespace:
    case Fn::kDict: {
      // dict(mapping_or_pairs, **kwargs); namespace() takes the same arguments.
      std::vector<std::pair<Value, Value>> items;
      auto put = [&](const Value& k, const Value& v) {
        if (!hashable(k)) throw EvalError("unhashable type: '" + type_name(k) + "'");
        for (auto& kv : items)
          if (equals(kv.first, k)) return void(kv.second = v);
        items.emplace_back(k, v);
      };
      if (args.positional.size() > 1)
        throw EvalError(std::string(f.name) + " expected at most 1 positional argument");
      if (!args.positional.empty()) {
        const Value& src = args.positional[0];
        if (src.is_dict()) {
          for (const auto& kv : src.dict().items) put(kv.first, kv.second);
        } else {
          for (const Value& pair : iterate(src)) {
            std::vector<Value> kv = iterate(pair);
            if (kv.size() != 2) throw EvalError(std::string(f.name) + "() needs key/value pairs");
            put(kv[0], kv[1]);
          }
        }
      }
      for (const auto& [k, v] : args.keyword) put(Value(k), v);
      if (f.fn == Fn::kDict) return Value::dict(std::move(items));
      auto ns = new_namespace();
      for (auto& [k, v] : items) {
        if (!k.is_string()) throw EvalError("namespace attribute names must be strings");
        ns->attrs.emplace_back(k.str(), std::move(v));
      }
      return Value::object(ns);
    }
    case Fn::kJoiner: {
      auto a = bind_args("joiner", args, {{"sep"}});
      return Value::object(std::make_shared<JoinerObject>(a[0] ? to_str(*a[0]) : ", "));
    }
  }
  return Value();
}

}  // namespace yz::tmpl
