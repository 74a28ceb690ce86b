// Value construction and Python's object protocol on values: truthiness, str/repr, ==, <,
// len, iteration (see value.h).
#include "template/value.h"

#include <algorithm>
#include <cmath>

#include "template/pystr.h"

namespace yz::tmpl {

namespace {

int child_depth(const Value& v) {
  if (v.is_list()) return v.list().depth;
  if (v.is_dict()) return v.dict().depth;
  return 0;
}

void check_depth(int depth) {
  if (depth > kMaxValueDepth)
    throw EvalError("value nested deeper than " + std::to_string(kMaxValueDepth) + " levels");
}

// Python's rules for mixed int/float/bool comparisons: compare as ints when both are ints.
int compare_numbers(const Value& a, const Value& b) {
  if (a.is_int() && b.is_int()) {
    int64_t x = a.integer(), y = b.integer();
    return x < y ? -1 : x > y;
  }
  double x = a.number(), y = b.number();
  if (std::isnan(x) || std::isnan(y)) return 2;  // unordered
  return x < y ? -1 : x > y;
}

}  // namespace

const Value* Dict::find(std::string_view key) const {
  for (const auto& [k, v] : items)
    if (k.is_string() && same_name(k.str(), key)) return &v;
  return nullptr;
}

const Value* Dict::find_key(const Value& key) const {
  if (key.is_string()) return find(std::string_view(key.str()));
  for (const auto& [k, v] : items)
    if (equals(k, key)) return &v;
  return nullptr;
}

bool hashable(const Value& v) {
  if (v.is_dict()) return false;
  if (v.is_list()) {
    if (v.list().kind == SeqKind::kList) return false;
    if (v.list().kind == SeqKind::kTuple)
      for (const Value& x : v.list().items)
        if (!hashable(x)) return false;
  }
  return true;
}

std::string html_escape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&#34;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

Value::Value(std::string s) : kind_(Kind::kString), p_(std::make_shared<std::string>(std::move(s))) {}

Value Value::markup(std::string s) {
  Value v(std::move(s));
  v.markup_ = true;
  return v;
}

Value Value::undefined(std::string hint) {
  Value v;
  v.p_ = std::make_shared<std::string>(std::move(hint));
  return v;
}

Value Value::none() {
  Value v;
  v.kind_ = Kind::kNone;
  return v;
}

Value Value::list(std::vector<Value> items, SeqKind kind) {
  auto l = std::make_shared<List>();
  for (const Value& x : items) l->depth = std::max(l->depth, child_depth(x) + 1);
  check_depth(l->depth);
  l->items = std::move(items);
  l->kind = kind;
  Value v;
  v.kind_ = Kind::kList;
  v.p_ = std::move(l);
  return v;
}

Value Value::dict(std::vector<std::pair<Value, Value>> items) {
  auto d = std::make_shared<Dict>();
  for (const auto& kv : items) d->depth = std::max(d->depth, child_depth(kv.second) + 1);
  check_depth(d->depth);
  d->items = std::move(items);
  Value v;
  v.kind_ = Kind::kDict;
  v.p_ = std::move(d);
  return v;
}

Value Value::object(std::shared_ptr<Object> o) {
  Value v;
  v.kind_ = Kind::kObject;
  v.p_ = std::move(o);
  return v;
}

namespace {

// Python's type name and Jinja's object_type_repr of a value, as literals (so an Undefined can
// keep the latter without allocating).
struct TypeNames {
  const char* type;
  const char* object;
};

TypeNames type_names(const Value& v) {
  switch (v.kind()) {
    case Value::Kind::kUndefined: return {"Undefined", "Undefined object"};
    case Value::Kind::kNone: return {"NoneType", "None"};
    case Value::Kind::kBool: return {"bool", "bool object"};
    case Value::Kind::kInt: return {"int", "int object"};
    case Value::Kind::kFloat: return {"float", "float object"};
    case Value::Kind::kString: return {"str", "str object"};
    case Value::Kind::kList:
      switch (v.list().kind) {
        case SeqKind::kList: return {"list", "list object"};
        case SeqKind::kTuple: return {"tuple", "tuple object"};
        case SeqKind::kGenerator: return {"generator", "generator object"};
      }
      return {"list", "list object"};
    case Value::Kind::kDict: return {"dict", "dict object"};
    case Value::Kind::kObject:
      switch (v.object()->type) {
        case Object::Type::kMacro: return {"Macro", "Macro object"};
        case Object::Type::kFunction: return {"function", "function object"};
        case Object::Type::kMethod:
          return {"builtin_function_or_method", "builtin_function_or_method object"};
        case Object::Type::kNamespace: return {"Namespace", "Namespace object"};
        case Object::Type::kLoop: return {"LoopContext", "LoopContext object"};
        case Object::Type::kJoiner: return {"Joiner", "Joiner object"};
      }
  }
  return {"object", "object"};
}

}  // namespace

Value Value::undefined_name(const std::string* name) {
  Value v;
  v.hint_ = Hint::kName;
  v.p_ = std::shared_ptr<void>(std::shared_ptr<void>(), const_cast<std::string*>(name));  // no ownership
  return v;
}

Value Value::undefined_attribute(const Value& obj, const std::string* name) {
  Value v = undefined_name(name);
  v.hint_ = Hint::kAttribute;
  v.type_repr_ = type_names(obj).object;
  return v;
}

std::string Value::undefined_message() const {
  const auto* text = static_cast<const std::string*>(p_.get());
  switch (hint_) {
    case Hint::kName: return "'" + *text + "' is undefined";
    case Hint::kAttribute: return std::string("'") + type_repr_ + "' has no attribute '" + *text + "'";
    case Hint::kText: break;
  }
  return text ? *text : "undefined value";
}

void fail_undefined(const Value& v) { throw EvalError(v.undefined_message()); }

bool truthy(const Value& v) {
  switch (v.kind()) {
    case Value::Kind::kUndefined: case Value::Kind::kNone: return false;
    case Value::Kind::kBool: return v.boolean();
    case Value::Kind::kInt: return v.integer() != 0;
    case Value::Kind::kFloat: return v.number() != 0;
    case Value::Kind::kString: return !v.str().empty();
    case Value::Kind::kList:
      return v.list().kind == SeqKind::kGenerator || !v.list().items.empty();
    case Value::Kind::kDict: return !v.dict().items.empty();
    case Value::Kind::kObject: return true;
  }
  return false;
}

void append_str(const Value& v, std::string* out) {
  switch (v.kind()) {
    case Value::Kind::kUndefined: return;
    case Value::Kind::kString: *out += v.str(); return;
    case Value::Kind::kInt: *out += std::to_string(v.integer()); return;
    default: *out += repr(v);
  }
}

std::string to_str(const Value& v) {
  if (v.is_string()) return v.str();
  std::string s;
  append_str(v, &s);
  return s;
}

std::string repr(const Value& v) {
  switch (v.kind()) {
    case Value::Kind::kUndefined: return "Undefined";
    case Value::Kind::kNone: return "None";
    case Value::Kind::kBool: return v.boolean() ? "True" : "False";
    case Value::Kind::kInt: return std::to_string(v.integer());
    case Value::Kind::kFloat: return py::float_repr(v.number());
    case Value::Kind::kString:
      return v.is_markup() ? "Markup(" + py::repr_str(v.str()) + ")" : py::repr_str(v.str());
    case Value::Kind::kList: {
      const List& l = v.list();
      if (l.kind == SeqKind::kGenerator) return "<generator object>";
      std::string s = l.kind == SeqKind::kTuple ? "(" : "[";
      for (size_t i = 0; i < l.items.size(); ++i) {
        if (i) s += ", ";
        s += repr(l.items[i]);
      }
      if (l.kind == SeqKind::kTuple && l.items.size() == 1) s += ",";
      return s + (l.kind == SeqKind::kTuple ? ")" : "]");
    }
    case Value::Kind::kDict: {
      std::string s = "{";
      bool first = true;
      for (const auto& [k, x] : v.dict().items) {
        if (!first) s += ", ";
        first = false;
        s += repr(k) + ": " + repr(x);
      }
      return s + "}";
    }
    case Value::Kind::kObject: return v.object()->repr();
  }
  return "";
}

bool equals(const Value& a, const Value& b) {
  using K = Value::Kind;
  if (a.is_number() && b.is_number()) return compare_numbers(a, b) == 0;
  if (a.kind() != b.kind()) return false;
  switch (a.kind()) {
    case K::kUndefined: case K::kNone: return true;
    case K::kString: return a.str() == b.str();
    case K::kList: {
      const List &x = a.list(), &y = b.list();
      if (x.kind == SeqKind::kGenerator || y.kind == SeqKind::kGenerator) return &x == &y;
      if (x.kind != y.kind || x.items.size() != y.items.size()) return false;
      for (size_t i = 0; i < x.items.size(); ++i)
        if (!equals(x.items[i], y.items[i])) return false;
      return true;
    }
    case K::kDict: {
      const Dict &x = a.dict(), &y = b.dict();
      if (x.items.size() != y.items.size()) return false;
      for (const auto& [k, v] : x.items) {
        const Value* w = y.find_key(k);
        if (!w || !equals(v, *w)) return false;
      }
      return true;
    }
    case K::kObject: return a.object() == b.object();
    default: return false;
  }
}

int compare(const Value& a, const Value& b, const char* op) {
  if (a.is_number() && b.is_number()) return compare_numbers(a, b);
  if (a.is_string() && b.is_string()) {  // UTF-8 byte order is code point order
    int c = a.str().compare(b.str());
    return c < 0 ? -1 : c > 0;
  }
  if (a.is_list() && b.is_list() && a.list().kind == b.list().kind &&
      a.list().kind != SeqKind::kGenerator) {
    const auto &x = a.list().items, &y = b.list().items;
    for (size_t i = 0; i < x.size() && i < y.size(); ++i)
      if (!equals(x[i], y[i])) return compare(x[i], y[i], op);
    return x.size() < y.size() ? -1 : x.size() > y.size();
  }
  if (a.is_undefined()) fail_undefined(a);
  if (b.is_undefined()) fail_undefined(b);
  throw EvalError(std::string("'") + op + "' not supported between instances of '" +
                  type_name(a) + "' and '" + type_name(b) + "'");
}

std::string type_name(const Value& v) { return type_names(v).type; }

std::string object_type_repr(const Value& v) { return type_names(v).object; }

int64_t length(const Value& v) {
  switch (v.kind()) {
    case Value::Kind::kUndefined: return 0;
    case Value::Kind::kString: return static_cast<int64_t>(py::count_codepoints(v.str()));
    case Value::Kind::kList:
      if (v.list().kind != SeqKind::kGenerator)
        return static_cast<int64_t>(v.list().items.size());
      break;
    case Value::Kind::kDict: return static_cast<int64_t>(v.dict().items.size());
    default: break;
  }
  throw EvalError("object of type '" + type_name(v) + "' has no len()");
}

std::vector<Value> iterate(const Value& v) {
  switch (v.kind()) {
    case Value::Kind::kUndefined: return {};
    case Value::Kind::kList: {
      const List& l = v.list();
      if (l.kind != SeqKind::kGenerator) return l.items;
      std::vector<Value> rest(l.items.begin() + static_cast<ptrdiff_t>(l.consumed), l.items.end());
      l.consumed = l.items.size();
      return rest;
    }
    case Value::Kind::kDict: {
      std::vector<Value> keys;
      keys.reserve(v.dict().items.size());
      for (const auto& kv : v.dict().items) keys.push_back(kv.first);
      return keys;
    }
    case Value::Kind::kString: {
      std::vector<Value> chars;
      std::string c;
      for (char32_t cp : py::to_u32(v.str())) {
        c.clear();
        py::append_utf8(&c, cp);
        chars.emplace_back(c);
      }
      return chars;
    }
    default:
      throw EvalError("'" + type_name(v) + "' object is not iterable");
  }
}

Value from_json(const Json& j) {
  // Recursion is bounded by kMaxValueDepth. Keys repeat across a conversation's messages
  // ("role", "content", ...): each distinct key becomes one shared string.
  struct Converter {
    std::vector<Value> keys;  // the first 64 distinct keys are shared

    Value key(const std::string& k) {
      for (const Value& v : keys)
        if (v.str() == k) return v;
      Value v(k);
      if (keys.size() < 64) keys.push_back(v);
      return v;
    }

    Value go(const Json& j, int depth) {
      if (depth > kMaxValueDepth)
        throw EvalError("input JSON nested deeper than " + std::to_string(kMaxValueDepth) +
                        " levels");
      switch (j.type()) {
        case Json::value_t::null: return Value::none();
        case Json::value_t::boolean: return Value(j.get<bool>());
        case Json::value_t::number_integer: return Value(j.get<int64_t>());
        case Json::value_t::number_unsigned: {
          uint64_t u = j.get<uint64_t>();
          if (u > static_cast<uint64_t>(INT64_MAX))
            throw EvalError("input integer " + std::to_string(u) + " does not fit in 64 bits");
          return Value(static_cast<int64_t>(u));
        }
        case Json::value_t::number_float: return Value(j.get<double>());
        case Json::value_t::string: return Value(j.get<std::string>());
        case Json::value_t::array: {
          std::vector<Value> items;
          items.reserve(j.size());
          for (const auto& x : j) items.push_back(go(x, depth + 1));
          return Value::list(std::move(items));
        }
        case Json::value_t::object: {
          std::vector<std::pair<Value, Value>> items;
          items.reserve(j.size());
          for (auto it = j.begin(); it != j.end(); ++it)
            items.emplace_back(key(it.key()), go(it.value(), depth + 1));
          return Value::dict(std::move(items));
        }
        default:
          throw EvalError("unsupported JSON value (binary) in the input");
      }
    }
  };
  Converter c;
  return c.go(j, 1);
}

}  // namespace yz::tmpl
