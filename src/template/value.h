// Values of the template engine: Python's types as Jinja sees them (None, bool, int, float,
// str, list, tuple, dict, generators, Undefined) plus engine objects (macros, namespaces, loop
// contexts, functions). Strings are UTF-8; lists and dicts are immutable once built, as in
// transformers' ImmutableSandboxedEnvironment, so values share them by reference.
#pragma once

#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace yz::tmpl {

// Key order matters (tojson keeps insertion order like json.dumps), so the engine speaks
// nlohmann's ordered_json.
using Json = nlohmann::ordered_json;

// A failure while rendering. The interpreter adds the template name and position.
class EvalError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// raise_exception(msg) called by the template itself: the message is the template's own words.
class RaisedError : public EvalError {
 public:
  using EvalError::EvalError;
};

class Value;

// Name equality with the length compared first (std::string == string_view compares bytes
// before lengths); variable and key lookups are the interpreter's inner loop.
inline bool same_name(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)  // names are short: a loop beats a memcmp call
    if (a[i] != b[i]) return false;
  return true;
}

// Deepest nesting of lists/dicts a value may have: repr, tojson and equality recurse, and a
// loop like `set ns.x = [ns.x]` would otherwise build a chain that overflows the stack.
inline constexpr int kMaxValueDepth = 256;

enum class SeqKind : uint8_t {
  kList,
  kTuple,
  kGenerator,  // single pass, always truthy, no len() (select, map, items, reverse, unique)
};

struct List {
  std::vector<Value> items;
  SeqKind kind = SeqKind::kList;
  int depth = 1;
  mutable size_t consumed = 0;  // generators: items[consumed:] are still to come
};

// Python dict: insertion order, unique keys. Keys are any hashable value (str, int, float,
// bool, None, tuples of those); 1, 1.0 and True are one key, as in Python.
struct Dict {
  std::vector<std::pair<Value, Value>> items;
  int depth = 1;
  const Value* find(std::string_view key) const;
  const Value* find_key(const Value& key) const;  // any hashable key
};

// Engine objects (see interpreter.h): callables, namespaces, loop contexts.
struct Object : std::enable_shared_from_this<Object> {
  enum class Type : uint8_t { kMacro, kFunction, kMethod, kNamespace, kLoop, kJoiner };
  explicit Object(Type t) : type(t) {}
  virtual ~Object() = default;
  virtual std::string repr() const = 0;
  const Type type;
};

class Value {
 public:
  enum class Kind : uint8_t { kUndefined, kNone, kBool, kInt, kFloat, kString, kList, kDict,
                              kObject };

  Value() = default;  // Undefined without a hint
  Value(bool b) : kind_(Kind::kBool), b_(b) {}             // NOLINT(runtime/explicit)
  Value(int64_t i) : kind_(Kind::kInt), i_(i) {}           // NOLINT(runtime/explicit)
  Value(int i) : kind_(Kind::kInt), i_(i) {}               // NOLINT(runtime/explicit)
  Value(double f) : kind_(Kind::kFloat), f_(f) {}          // NOLINT(runtime/explicit)
  Value(std::string s);                                    // NOLINT(runtime/explicit)
  Value(const char* s) : Value(std::string(s)) {}          // NOLINT(runtime/explicit)
  // markupsafe.Markup: a string marked safe (|safe, |escape). Adding a plain string to it
  // HTML-escapes that string, which templates mixing |safe with tojson output rely on.
  static Value markup(std::string s);

  // `hint` is the message used when the undefined value is misused (Jinja's _undefined_hint).
  static Value undefined(std::string hint);
  // The two common Undefineds, whose message is only built if it is ever raised: "'NAME' is
  // undefined" and "'TYPE object' has no attribute 'NAME'". `name` must outlive the value
  // (an AST node's name does: values never outlive the render).
  static Value undefined_name(const std::string* name);
  static Value undefined_attribute(const Value& obj, const std::string* name);
  static Value none();
  static Value list(std::vector<Value> items, SeqKind kind = SeqKind::kList);
  static Value dict(std::vector<std::pair<Value, Value>> items);  // keys unique and hashable
  static Value object(std::shared_ptr<Object> o);

  Kind kind() const { return kind_; }
  bool is_undefined() const { return kind_ == Kind::kUndefined; }
  bool is_none() const { return kind_ == Kind::kNone; }
  bool is_string() const { return kind_ == Kind::kString; }
  bool is_markup() const { return kind_ == Kind::kString && markup_; }
  bool is_int() const { return kind_ == Kind::kInt || kind_ == Kind::kBool; }  // Python: bool is int
  bool is_number() const { return is_int() || kind_ == Kind::kFloat; }
  bool is_list() const { return kind_ == Kind::kList; }
  bool is_dict() const { return kind_ == Kind::kDict; }
  bool is_object(Object::Type t) const { return kind_ == Kind::kObject && object()->type == t; }

  bool boolean() const { return b_; }
  int64_t integer() const { return kind_ == Kind::kBool ? b_ : i_; }
  double number() const { return kind_ == Kind::kFloat ? f_ : static_cast<double>(integer()); }
  const std::string& str() const { return *static_cast<const std::string*>(p_.get()); }
  const List& list() const { return *static_cast<const List*>(p_.get()); }
  const Dict& dict() const { return *static_cast<const Dict*>(p_.get()); }
  Object* object() const { return static_cast<Object*>(p_.get()); }
  std::shared_ptr<Object> object_ptr() const { return std::static_pointer_cast<Object>(p_); }
  // The message to raise when an undefined value is used ("'x' is undefined").
  std::string undefined_message() const;

 private:
  Kind kind_ = Kind::kUndefined;
  bool markup_ = false;
  enum class Hint : uint8_t { kText, kName, kAttribute } hint_ = Hint::kText;  // Undefined only
  union {
    bool b_;
    int64_t i_ = 0;
    double f_;
    const char* type_repr_;  // Undefined with Hint::kAttribute
  };
  std::shared_ptr<void> p_;  // string / hint, List, Dict or Object by kind_
};

// Python truthiness (Undefined and empty containers are false, generators are always true).
bool truthy(const Value& v);
// str(v) as Jinja prints it (Undefined prints as "").
std::string to_str(const Value& v);
void append_str(const Value& v, std::string* out);
std::string repr(const Value& v);
// Python ==, with 1 == 1.0 == True and dicts compared without regard to key order.
bool equals(const Value& a, const Value& b);
// Python ordering of numbers, strings and lists/tuples of one kind: -1, 0, 1, or 2 when
// unordered (NaN). Other pairs raise EvalError naming `op` ("'<' not supported between ...").
int compare(const Value& a, const Value& b, const char* op = "<");
// Python's type(v).__name__ ("NoneType", "str", "dict", ...).
std::string type_name(const Value& v);
// Usable as a dict key (Python's hash() succeeds): not a list, dict, or tuple holding one.
bool hashable(const Value& v);
// markupsafe.escape: & < > " ' as HTML entities.
std::string html_escape(std::string_view s);
// Jinja's object_type_repr: "dict object", "None", ... (used in undefined messages).
std::string object_type_repr(const Value& v);
// len(v); EvalError for values without a length.
int64_t length(const Value& v);
// iter(v) materialised: list items, dict keys, string characters; consumes generators.
std::vector<Value> iterate(const Value& v);
// Raises the undefined value's message (Jinja's _fail_with_undefined_error).
[[noreturn]] void fail_undefined(const Value& v);

Value from_json(const Json& j);
// json.dumps(v, ensure_ascii, indent, separators, sort_keys) as transformers' tojson calls it.
struct JsonDumpOptions {
  bool ensure_ascii = false;
  bool has_indent = false;
  std::string indent;  // one level of indentation
  std::string item_separator = ", ", key_separator = ": ";
  bool sort_keys = false;
  size_t max_bytes = SIZE_MAX;  // stop with EvalError once the text grows past this
};
std::string dump_json(const Value& v, const JsonDumpOptions& options);

}  // namespace yz::tmpl
