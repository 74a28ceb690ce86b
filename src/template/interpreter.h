// The tree-walking evaluator: scopes as Jinja's compiled frames behave (a fresh scope per loop
// iteration, macros closing over their defining scope, {% if %} sharing its parent's), the
// sandbox's attribute rules, and the render limits. Filters, tests and methods see it through
// this header. Internal to the template library; template.h is the public face.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "template/ast.h"
#include "template/methods.h"
#include "template/template.h"
#include "template/value.h"

namespace yz::tmpl {

// An error located at a node (byte offset in the source). `raised`: raise_exception's message.
class LocatedError : public std::runtime_error {
 public:
  LocatedError(const std::string& message, size_t pos, bool raised)
      : std::runtime_error(message), pos(pos), raised(raised) {}
  size_t pos;
  bool raised;
};

class Scope {
 public:
  explicit Scope(std::shared_ptr<Scope> parent) : parent_(std::move(parent)) { vars_.reserve(4); }
  const Value* find(std::string_view name) const;
  Value* find_local(std::string_view name);
  void set(const std::string& name, Value v);
  void clear() { vars_.clear(); }

 private:
  std::shared_ptr<Scope> parent_;
  std::vector<std::pair<std::string, Value>> vars_;  // few per scope: linear search wins
};

// Evaluated call arguments.
struct Args {
  std::vector<Value> positional;
  std::vector<std::pair<std::string, Value>> keyword;
};

// Binds Args to a Python-style signature: each parameter points at its argument in Args
// (valid while the Args are), or is null when left out.
struct ParamSpec {
  const char* name;
  bool required = false;
};
inline constexpr size_t kMaxParams = 6;  // the longest built-in signature has 4
class BoundArgs {
 public:
  const Value* operator[](size_t i) const { return v_[i]; }
  const Value*& operator[](size_t i) { return v_[i]; }

 private:
  const Value* v_[kMaxParams] = {};  // no copies and no allocation per call
};
BoundArgs bind_args(std::string_view fn, const Args& args, std::initializer_list<ParamSpec> params);

struct MacroObject : Object {
  MacroObject(const ast::Stmt* d, std::weak_ptr<Scope> c, std::string n)
      : Object(Type::kMacro), def(d), closure(std::move(c)), name(std::move(n)) {}
  std::string repr() const override { return "<Macro '" + name + "'>"; }
  const ast::Stmt* def;  // kMacro or kCallBlock (the caller)
  // Weak: a macro is stored in the scope it closes over, and a strong reference would be a
  // cycle. A macro cannot outlive its scope unless smuggled out through a namespace.
  std::weak_ptr<Scope> closure;
  std::string name;
};

struct FunctionObject : Object {
  enum class Fn : uint8_t { kRange, kNamespace, kDict, kRaiseException, kStrftimeNow, kJoiner };
  FunctionObject(Fn f, const char* n) : Object(Type::kFunction), fn(f), name(n) {}
  std::string repr() const override { return std::string("<function ") + name + ">"; }
  Fn fn;
  const char* name;
};

// A method looked up on a str/dict/list value, e.g. message.content.startswith.
struct MethodObject : Object {
  MethodObject(Value s, Method m) : Object(Type::kMethod), self(std::move(s)), method(m) {}
  std::string repr() const override {
    return std::string("<built-in method ") + method_name(method) + " of " + type_name(self) + " object>";
  }
  Value self;
  Method method;
};

struct NamespaceObject : Object {
  NamespaceObject() : Object(Type::kNamespace) {}
  std::string repr() const override;
  std::vector<std::pair<std::string, Value>> attrs;
};

struct JoinerObject : Object {
  explicit JoinerObject(std::string s) : Object(Type::kJoiner), sep(std::move(s)) {}
  std::string repr() const override { return "<Joiner>"; }
  std::string sep;
  bool used = false;
};

class Interpreter;

// Jinja's LoopContext: items arrive lazily when the for has an `if` filter, because the filter
// may read state the body changes.
struct LoopObject : Object {
  LoopObject() : Object(Type::kLoop) {}
  std::string repr() const override;
  bool advance(Value* item);  // next item, false at the end
  bool peek(Value* item);
  int64_t length();
  Value attribute(const std::string& name, Method method);

  Interpreter* interp = nullptr;
  const ast::Stmt* def = nullptr;
  std::shared_ptr<Scope> scope;  // where the filter is evaluated and the body runs
  // The items: a list's own items (kept alive by `iterable`), else materialised in `owned`.
  Value iterable;
  std::vector<Value> owned;
  const std::vector<Value>* source = nullptr;
  size_t next_source = 0;
  std::vector<Value> ahead;  // filtered items fetched early (peek/length)
  size_t ahead_pos = 0;
  int64_t index0 = -1;
  int depth0 = 0;
  Value previous;
  bool has_previous = false;
  std::optional<Value> last_changed;

 private:
  bool pull(Value* item);  // next filtered item from source
};

class Interpreter {
 public:
  Interpreter(const std::string& name, const RenderOptions& options, std::string* out,
              std::vector<GenerationSpan>* spans);

  void run(const ast::Body& body, const Template::Vars& variables);

  Value eval(const ast::Expr& e, const std::shared_ptr<Scope>& scope);
  // Evaluates without copying when it can: the result is the literal, the variable, or the
  // dict/list member the expression names, or else *tmp, which then holds the value. A
  // borrowed result stays valid while the enclosing expression is evaluated: expressions
  // cannot rebind variables or change containers (namespace attributes, which a macro call
  // could reassign, are always copied into *tmp).
  const Value& eval_ref(const ast::Expr& e, const std::shared_ptr<Scope>& scope, Value* tmp);
  Value call(const Value& callee, Args& args);
  Value getattr(const Value& obj, const std::string& name);
  // The same with the attribute's method already resolved (the parser stores it per node);
  // `stable_name`: the node's own name, so a missing attribute costs no message string.
  Value getattr(const Value& obj, const std::string& name, Method method,
                const std::string* stable_name = nullptr);
  Value getitem(const Value& obj, const Value& key);
  Value apply_filter(const std::string& name, const Value& input, Args& args);
  bool apply_test(const std::string& name, const Value& input, Args& args);

  // Work accounting: loop iterations, items that filters walk, and one unit per 256 bytes of
  // strings built (so a loop cannot pile up unbounded memory in strings it keeps).
  void charge(int64_t n);
  // A string of `bytes` is about to be built: within max_output_bytes, and charged.
  void check_size(size_t bytes);
  // Only the max_output_bytes bound, for a string still growing (charge it once built).
  void check_limit(size_t bytes) const;
  // Appends rendered text, keeping the output within max_output_bytes.
  void append(std::string* out, std::string_view text) const;

  const RenderOptions& options() const { return options_; }
  std::shared_ptr<NamespaceObject> new_namespace();
  // Runs a for loop over `iterable` (also a recursive loop(...) call), writing to `out`.
  void exec_for(const ast::Stmt& s, const Value& iterable, int depth0,
                const std::shared_ptr<Scope>& scope, std::string* out);

 private:
  enum class Flow { kNormal, kBreak, kContinue };
  Flow exec(const ast::Body& body, const std::shared_ptr<Scope>& scope, std::string* out);
  Flow exec_stmt(const ast::Stmt& s, const std::shared_ptr<Scope>& scope, std::string* out);
  std::string render_body(const ast::Body& body, const std::shared_ptr<Scope>& scope);
  void assign(const ast::Target& t, const Value& v, const std::shared_ptr<Scope>& scope);
  Value eval_inner(const ast::Expr& e, const std::shared_ptr<Scope>& scope);
  Value eval_test(const ast::Expr& e, const std::shared_ptr<Scope>& scope);
  Value eval_other(const ast::Expr& e, const std::shared_ptr<Scope>& scope);
  const Value& eval_ref_inner(const ast::Expr& e, const std::shared_ptr<Scope>& scope, Value* tmp);
  bool eval_add(const ast::Expr& e, const std::shared_ptr<Scope>& scope, std::string* sink,
                Value* result);
  Value eval_binary(const ast::Expr& e, const Value& a, const Value& b);
  Value eval_compare(const ast::Expr& e, const std::shared_ptr<Scope>& scope);
  Value eval_call(const ast::Expr& e, const std::shared_ptr<Scope>& scope);
  Value eval_filter_chain(const ast::Expr& e, const std::shared_ptr<Scope>& scope,
                          const Value* input);
  void eval_args(const ast::CallArgs& c, const std::shared_ptr<Scope>& scope, Args* out);
  Value call_macro(MacroObject& m, Args& args);
  Value call_function(FunctionObject& f, Args& args);
  Value lookup(const std::string& name, const std::shared_ptr<Scope>& scope) const;

  // Argument lists are reused from call to call (no allocation once warm); calls nest, so the
  // pool is a stack and a lease returns its Args emptied.
  class ArgsLease {
   public:
    explicit ArgsLease(Interpreter* in);
    ~ArgsLease();
    Args& operator*() { return *args_; }

   private:
    Interpreter* in_;
    Args* args_;
  };

  struct DepthGuard {
    DepthGuard(Interpreter* i);
    ~DepthGuard() { --interp->depth_; }
    Interpreter* interp;
  };

  std::string name_;
  const RenderOptions& options_;
  std::string* root_out_;
  std::vector<GenerationSpan>* spans_;
  int64_t work_ = 0;
  int depth_ = 0;
  std::vector<std::unique_ptr<Args>> args_pool_;
  size_t args_used_ = 0;
  // Every namespace made during this render, emptied at the end: namespaces are the only
  // mutable values, so this breaks any reference cycle a template builds through them.
  std::vector<std::shared_ptr<NamespaceObject>> namespaces_;
  friend struct LoopObject;
};

// str.replace with the result's size checked against the output limit before it is built.
std::string checked_replace(Interpreter& in, const std::string& s, const std::string& old,
                            const std::string& repl, int64_t count);

// Python's `%` on a string (printf-style formatting with a tuple, a mapping or one value).
// escape_args: Markup's `%`, which HTML-escapes every argument first.
std::string percent_format(const std::string& fmt, const Value& args, bool escape_args = false);

}  // namespace yz::tmpl
