// Statements, scopes, loops and macro calls (see interpreter.h). Scoping follows what Jinja's
// compiler produces: a for body gets a fresh scope per iteration (so `set` inside a loop never
// leaks out, nor into the next iteration), if/elif/else share the enclosing scope, macro and
// caller bodies run in a scope whose parent is the scope they were defined in.
#include "template/interpreter.h"

#include "template/filters.h"
#include "template/pystr.h"
#include "util/error.h"

namespace yz::tmpl {

using ast::StmtKind;

const Value* Scope::find(std::string_view name) const {
  for (const Scope* s = this; s; s = s->parent_.get())
    for (const auto& kv : s->vars_)
      if (same_name(kv.first, name)) return &kv.second;
  return nullptr;
}

Value* Scope::find_local(std::string_view name) {
  for (auto& kv : vars_)
    if (same_name(kv.first, name)) return &kv.second;
  return nullptr;
}

void Scope::set(const std::string& name, Value v) {
  if (Value* slot = find_local(name)) *slot = std::move(v);
  else vars_.emplace_back(name, std::move(v));
}

BoundArgs bind_args(std::string_view fn, const Args& args, std::initializer_list<ParamSpec> params) {
  YZ_ASSERT(params.size() <= kMaxParams, "bind_args: too many parameters for ", fn);
  BoundArgs out;
  if (args.positional.size() > params.size())
    throw EvalError(std::string(fn) + "() takes at most " + std::to_string(params.size()) +
                    " argument(s) (" + std::to_string(args.positional.size()) + " given)");
  for (size_t i = 0; i < args.positional.size(); ++i) out[i] = &args.positional[i];
  for (const auto& [key, value] : args.keyword) {
    size_t i = 0;
    for (const ParamSpec& p : params) {
      if (key == p.name) break;
      ++i;
    }
    if (i == params.size())
      throw EvalError(std::string(fn) + "() got an unexpected keyword argument '" + key + "'");
    if (out[i]) throw EvalError(std::string(fn) + "() got multiple values for argument '" + key + "'");
    out[i] = &value;
  }
  size_t i = 0;
  for (const ParamSpec& p : params) {
    if (p.required && !out[i])
      throw EvalError(std::string(fn) + "() missing required argument '" + p.name + "'");
    ++i;
  }
  return out;
}

std::string NamespaceObject::repr() const {
  static thread_local int depth = 0;
  if (depth >= kMaxValueDepth) throw EvalError("namespace nested too deeply to print");
  ++depth;
  std::string s = "<Namespace {";
  try {
    for (size_t i = 0; i < attrs.size(); ++i)
      s += (i ? ", " : "") + py::repr_str(attrs[i].first) + ": " + yz::tmpl::repr(attrs[i].second);
  } catch (...) {
    --depth;
    throw;
  }
  --depth;
  return s + "}>";
}

// ---- loops ----

std::string LoopObject::repr() const {
  return "<LoopContext " + std::to_string(index0 + 1) + "/" +
         (ahead.empty() && next_source >= source->size() ? std::to_string(index0 + 1) : "?") + ">";
}

bool LoopObject::pull(Value* item) {
  while (next_source < source->size()) {
    Value v = (*source)[next_source++];
    if (!def->filter) {
      *item = std::move(v);
      return true;
    }
    // The filter sees the loop target bound to the candidate, in a scope of its own.
    auto probe = std::make_shared<Scope>(scope);
    interp->assign(def->target, v, probe);
    interp->charge(1);
    if (truthy(interp->eval(*def->filter, probe))) {
      *item = std::move(v);
      return true;
    }
  }
  return false;
}

bool LoopObject::advance(Value* item) {
  if (ahead_pos < ahead.size()) {
    *item = std::move(ahead[ahead_pos++]);
    return true;
  }
  ahead.clear();
  ahead_pos = 0;
  return pull(item);
}

bool LoopObject::peek(Value* item) {
  if (ahead_pos == ahead.size()) {
    Value v;
    if (!pull(&v)) return false;
    ahead.push_back(std::move(v));
  }
  *item = ahead[ahead_pos];
  return true;
}

int64_t LoopObject::length() {
  if (!def->filter) return static_cast<int64_t>(source->size());
  Value v;
  while (pull(&v)) ahead.push_back(std::move(v));
  return index0 + 1 + static_cast<int64_t>(ahead.size() - ahead_pos);
}

Value LoopObject::attribute(const std::string& name, Method method) {
  Value probe;
  if (name == "index0") return Value(index0);
  if (name == "index") return Value(index0 + 1);
  if (name == "revindex") return Value(length() - index0);
  if (name == "revindex0") return Value(length() - index0 - 1);
  if (name == "first") return Value(index0 == 0);
  if (name == "last") return Value(!peek(&probe));
  if (name == "length") return Value(length());
  if (name == "depth") return Value(static_cast<int64_t>(depth0 + 1));
  if (name == "depth0") return Value(static_cast<int64_t>(depth0));
  if (name == "previtem")
    return has_previous ? previous : Value::undefined("there is no previous item");
  if (name == "nextitem") return peek(&probe) ? probe : Value::undefined("there is no next item");
  if (method == Method::kCycle || method == Method::kChanged)
    return Value::object(std::make_shared<MethodObject>(Value::object(shared_from_this()), method));
  return Value::undefined("'LoopContext object' has no attribute '" + name + "'");
}

// ---- interpreter ----

Interpreter::Interpreter(const std::string& name, const RenderOptions& options, std::string* out,
                         std::vector<GenerationSpan>* spans)
    : name_(name), options_(options), root_out_(out), spans_(spans) {}

Interpreter::ArgsLease::ArgsLease(Interpreter* in) : in_(in) {
  if (in_->args_used_ == in_->args_pool_.size()) in_->args_pool_.push_back(std::make_unique<Args>());
  args_ = in_->args_pool_[in_->args_used_++].get();
}

Interpreter::ArgsLease::~ArgsLease() {
  args_->positional.clear();
  args_->keyword.clear();
  --in_->args_used_;
}

Interpreter::DepthGuard::DepthGuard(Interpreter* i) : interp(i) {
  if (++interp->depth_ > interp->options_.limits.max_recursion_depth) {
    --interp->depth_;
    throw EvalError("recursion deeper than max_recursion_depth (" +
                    std::to_string(interp->options_.limits.max_recursion_depth) + ")");
  }
}

void Interpreter::charge(int64_t n) {
  if (n < 0 || n > options_.limits.max_iterations - work_) work_ = INT64_MAX;
  else work_ += n;
  if (work_ > options_.limits.max_iterations)
    throw EvalError("more than max_iterations (" + std::to_string(options_.limits.max_iterations) +
                    ") loop iterations and filtered items");
}

void Interpreter::check_limit(size_t bytes) const {
  if (bytes > static_cast<size_t>(options_.limits.max_output_bytes))
    throw EvalError("output longer than max_output_bytes (" +
                    std::to_string(options_.limits.max_output_bytes) + ")");
}

void Interpreter::check_size(size_t bytes) {
  check_limit(bytes);
  charge(static_cast<int64_t>(bytes >> 8));
}

void Interpreter::append(std::string* out, std::string_view text) const {
  check_limit(out->size() + text.size());
  out->append(text);
}

std::shared_ptr<NamespaceObject> Interpreter::new_namespace() {
  auto ns = std::make_shared<NamespaceObject>();
  namespaces_.push_back(ns);
  return ns;
}

void Interpreter::run(const ast::Body& body, const Template::Vars& variables) {
  auto globals = std::make_shared<Scope>(nullptr);
  for (const auto& [name, value] : variables) globals->set(name, value);
  auto top = std::make_shared<Scope>(globals);
  try {
    exec(body, top, root_out_);
  } catch (...) {
    for (auto& ns : namespaces_) ns->attrs.clear();
    throw;
  }
  for (auto& ns : namespaces_) ns->attrs.clear();
}

Interpreter::Flow Interpreter::exec(const ast::Body& body, const std::shared_ptr<Scope>& scope,
                                    std::string* out) {
  for (const auto& s : body) {
    Flow f = exec_stmt(*s, scope, out);
    if (f != Flow::kNormal) return f;
  }
  return Flow::kNormal;
}

std::string Interpreter::render_body(const ast::Body& body, const std::shared_ptr<Scope>& scope) {
  std::string buf;
  exec(body, scope, &buf);
  return buf;
}

void Interpreter::assign(const ast::Target& t, const Value& v, const std::shared_ptr<Scope>& scope) {
  switch (t.kind) {
    case ast::Target::Kind::kName:
      scope->set(t.name, v);
      return;
    case ast::Target::Kind::kNamespaceAttr: {
      const Value* ns = scope->find(t.name);
      if (!ns || !ns->is_object(Object::Type::kNamespace))
        throw EvalError("cannot assign attribute on non-namespace object");
      auto* obj = static_cast<NamespaceObject*>(ns->object());
      for (auto& kv : obj->attrs) {
        if (kv.first == t.attr) {
          kv.second = v;
          return;
        }
      }
      obj->attrs.emplace_back(t.attr, v);
      return;
    }
    case ast::Target::Kind::kTuple: {
      std::vector<Value> items = iterate(v);
      if (items.size() != t.items.size())
        throw EvalError(items.size() < t.items.size()
                            ? "not enough values to unpack (expected " + std::to_string(t.items.size()) +
                                  ", got " + std::to_string(items.size()) + ")"
                            : "too many values to unpack (expected " + std::to_string(t.items.size()) + ")");
      for (size_t i = 0; i < items.size(); ++i) assign(t.items[i], items[i], scope);
      return;
    }
  }
}

void Interpreter::exec_for(const ast::Stmt& s, const Value& iterable, int depth0,
                           const std::shared_ptr<Scope>& scope, std::string* out) {
  auto loop = std::make_shared<LoopObject>();
  loop->interp = this;
  loop->def = &s;
  loop->scope = scope;
  if (iterable.is_list() && iterable.list().kind != SeqKind::kGenerator) {
    loop->iterable = iterable;
    loop->source = &iterable.list().items;
  } else {
    loop->owned = iterate(iterable);
    loop->source = &loop->owned;
  }
  loop->depth0 = depth0;
  const Value loop_value = Value::object(loop);
  Value item;
  bool any = false;
  // One scope for the body, emptied at each iteration: an iteration's assignments are gone in
  // the next, as in Jinja's compiled loop.
  auto iter_scope = std::make_shared<Scope>(scope);
  while (loop->advance(&item)) {
    any = true;
    charge(1);
    ++loop->index0;
    iter_scope->clear();
    assign(s.target, item, iter_scope);
    iter_scope->set("loop", loop_value);
    Flow f = exec(s.body, iter_scope, out);
    loop->previous = std::move(item);
    loop->has_previous = true;
    if (f == Flow::kBreak) break;
  }
  if (!any) exec(s.else_body, scope, out);
}

Interpreter::Flow Interpreter::exec_stmt(const ast::Stmt& s, const std::shared_ptr<Scope>& scope,
                                         std::string* out) {
  try {
    switch (s.kind) {
      case StmtKind::kOutput:
        for (const auto& p : s.pieces) {
          if (!p.expr) {
            append(out, p.text);
            continue;
          }
          Value tmp;
          const Value* v = &tmp;
          if (p.expr->kind == ast::ExprKind::kBinary && p.expr->bin_op == ast::BinOp::kAdd) {
            if (eval_add(*p.expr, scope, out, &tmp)) continue;  // appended in place
          } else {
            v = &eval_ref(*p.expr, scope, &tmp);
          }
          if (v->is_string()) append(out, v->str());
          else append(out, to_str(*v));
        }
        return Flow::kNormal;
      case StmtKind::kIf: {
        Value tmp;
        return exec(truthy(eval_ref(*s.expr, scope, &tmp)) ? s.body : s.else_body, scope, out);
      }
      case StmtKind::kFor: {
        exec_for(s, eval(*s.expr, scope), 0, scope, out);
        return Flow::kNormal;
      }
      case StmtKind::kSet:
        assign(s.target, eval(*s.expr, scope), scope);
        return Flow::kNormal;
      case StmtKind::kSetBlock: {
        // Jinja compiles the body inline, so a break/continue in it still reaches the loop.
        std::string buf;
        Flow f = exec(s.body, std::make_shared<Scope>(scope), &buf);
        Value v(std::move(buf));
        if (s.filter) v = eval_filter_chain(*s.filter, scope, &v);
        assign(s.target, v, scope);
        return f;
      }
      case StmtKind::kMacro:
        scope->set(s.name, Value::object(std::make_shared<MacroObject>(&s, scope, s.name)));
        return Flow::kNormal;
      case StmtKind::kCallBlock: {
        const ast::Expr& call = *s.expr;
        Value callee = eval(*call.a, scope);
        ArgsLease lease(this);
        Args& args = *lease;
        eval_args(call.call, scope, &args);
        args.keyword.emplace_back(
            "caller", Value::object(std::make_shared<MacroObject>(&s, scope, "caller")));
        append(out, to_str(this->call(callee, args)));
        return Flow::kNormal;
      }
      case StmtKind::kFilterBlock: {
        std::string buf;
        Flow f = exec(s.body, std::make_shared<Scope>(scope), &buf);
        Value body(std::move(buf));
        append(out, to_str(eval_filter_chain(*s.filter, scope, &body)));
        return f;
      }
      case StmtKind::kWith: {
        auto inner = std::make_shared<Scope>(scope);
        std::vector<Value> values;
        for (const auto& v : s.values) values.push_back(eval(*v, scope));
        for (size_t i = 0; i < values.size(); ++i) assign(s.targets[i], values[i], inner);
        return exec(s.body, inner, out);
      }
      case StmtKind::kBreak:
        return Flow::kBreak;
      case StmtKind::kContinue:
        return Flow::kContinue;
      case StmtKind::kGeneration: {
        const size_t begin = out->size();
        exec(s.body, std::make_shared<Scope>(scope), out);
        if (out == root_out_ && spans_) spans_->push_back({begin, out->size()});
        return Flow::kNormal;
      }
    }
  } catch (const EvalError& e) {
    throw LocatedError(e.what(), s.pos, dynamic_cast<const RaisedError*>(&e) != nullptr);
  }
  return Flow::kNormal;
}

Value Interpreter::call_macro(MacroObject& m, Args& args) {
  DepthGuard guard(this);
  const ast::Stmt& def = *m.def;
  std::shared_ptr<Scope> closure = m.closure.lock();
  if (!closure) throw EvalError("macro '" + m.name + "' called after the scope defining it ended");
  auto scope = std::make_shared<Scope>(closure);
  const size_t n = def.params.size();
  std::vector<bool> given(n, false);
  std::vector<Value> varargs;
  for (size_t i = 0; i < args.positional.size(); ++i) {
    if (i < n) {
      scope->set(def.params[i].name, args.positional[i]);
      given[i] = true;
    } else if (def.uses_varargs) {
      varargs.push_back(args.positional[i]);
    } else {
      throw EvalError("macro '" + m.name + "' takes not more than " + std::to_string(n) +
                      " argument(s)");
    }
  }
  std::vector<std::pair<Value, Value>> kwargs;
  bool have_caller = false;
  for (auto& [key, value] : args.keyword) {
    size_t i = 0;
    while (i < n && def.params[i].name != key) ++i;
    if (i < n) {
      if (given[i])
        throw EvalError("macro '" + m.name + "' got multiple values for argument '" + key + "'");
      scope->set(key, value);
      given[i] = true;
    } else if (key == "caller" && def.uses_caller) {
      scope->set("caller", value);
      have_caller = true;
    } else if (def.uses_kwargs) {
      kwargs.emplace_back(Value(key), value);
    } else {
      throw EvalError("macro '" + m.name + "' takes no keyword argument '" + key + "'");
    }
  }
  for (size_t i = 0; i < n; ++i) {
    if (given[i]) continue;
    const ast::Param& p = def.params[i];
    scope->set(p.name, p.default_value ? eval(*p.default_value, scope)
                                       : Value::undefined("parameter '" + p.name + "' was not provided"));
  }
  if (def.uses_varargs) scope->set("varargs", Value::list(std::move(varargs), SeqKind::kTuple));
  if (def.uses_kwargs) scope->set("kwargs", Value::dict(std::move(kwargs)));
  if (def.uses_caller && !have_caller) scope->set("caller", Value::undefined("No caller defined"));
  return Value(render_body(def.body, scope));
}

Value Interpreter::lookup(const std::string& name, const std::shared_ptr<Scope>& scope) const {
  if (const Value* v = scope->find(name)) return *v;
  using Fn = FunctionObject::Fn;
  static const struct {
    const char* name;
    Fn fn;
  } kGlobals[] = {{"range", Fn::kRange},           {"namespace", Fn::kNamespace},
                  {"dict", Fn::kDict},             {"raise_exception", Fn::kRaiseException},
                  {"strftime_now", Fn::kStrftimeNow}, {"joiner", Fn::kJoiner}};
  for (const auto& g : kGlobals)
    if (name == g.name) return Value::object(std::make_shared<FunctionObject>(g.fn, g.name));
  return Value::undefined_name(&name);  // `name` is the AST node's
}

}  // namespace yz::tmpl
