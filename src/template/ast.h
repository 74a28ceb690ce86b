// The parsed template: expression and statement nodes as jinja2/nodes.py defines them (only
// the ones a chat template can reach). Nodes carry the byte offset they start at, for errors.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "template/methods.h"
#include "template/value.h"

namespace yz::tmpl {

struct Callable;  // filter/test implementation, resolved by the parser (filters.h)

namespace ast {

struct Expr;
struct Stmt;
using ExprPtr = std::unique_ptr<Expr>;
using StmtPtr = std::unique_ptr<Stmt>;
using Body = std::vector<StmtPtr>;

enum class ExprKind : uint8_t {
  kLiteral,   // literal
  kName,      // name
  kGetAttr,   // a.name
  kGetItem,   // a[b]
  kSlice,     // a[b:c:d] (b/c/d may be null)
  kCall,      // a(call)
  kFilter,    // a|name(call); a is null inside {% filter %} / {% set x | f %}
  kTest,      // a is name(call)
  kNot, kNeg, kPos,
  kBinary,    // a op b
  kAnd, kOr,
  kConcat,    // items joined with ~
  kCompare,   // a (ops[i] items[i])...
  kCond,      // b if a else c (c may be null)
  kList, kTuple,
  kDict,      // items: key, value, key, value, ...
};

enum class BinOp : uint8_t { kAdd, kSub, kMul, kDiv, kFloorDiv, kMod, kPow };
enum class CmpOp : uint8_t { kEq, kNe, kLt, kLe, kGt, kGe, kIn, kNotIn };

struct CallArgs {
  std::vector<ExprPtr> args;
  std::vector<std::pair<std::string, ExprPtr>> kwargs;
  ExprPtr star_args, star_kwargs;  // *args, **kwargs
};

struct Expr {
  ExprKind kind = ExprKind::kLiteral;
  size_t pos = 0;
  Value literal;
  std::string name;
  ExprPtr a, b, c, d;
  std::vector<ExprPtr> items;
  std::vector<CmpOp> cmp_ops;
  BinOp bin_op = BinOp::kAdd;
  CallArgs call;
  const Callable* fn = nullptr;  // kFilter / kTest implementation
  Method method = Method::kNone;  // kGetAttr: the method `name` names, if any
};

// Assignment target of for / set / with: a name, a tuple of targets, or namespace.attr.
struct Target {
  enum class Kind : uint8_t { kName, kTuple, kNamespaceAttr } kind = Kind::kName;
  std::string name, attr;
  std::vector<Target> items;
  size_t pos = 0;
};

enum class StmtKind : uint8_t {
  kOutput,       // data and {{ }} expressions
  kIf,           // expr, body, else_body (elif = an If alone in else_body)
  kFor,          // target in expr [if filter], body, else_body, recursive
  kSet,          // target = expr
  kSetBlock,     // {% set target [| filter] %}body{% endset %}
  kMacro,        // name(params) body
  kCallBlock,    // {% call(params) expr %}body{% endcall %}
  kFilterBlock,  // {% filter f %}body{% endfilter %}
  kWith,         // {% with targets = values %}body{% endwith %}
  kBreak,
  kContinue,
  kGeneration,   // transformers' {% generation %}: the body, with its output span recorded
};

struct OutputPiece {
  std::string text;  // used when expr is null
  ExprPtr expr;
};

struct Param {
  std::string name;
  ExprPtr default_value;  // null: required
};

struct Stmt {
  StmtKind kind = StmtKind::kOutput;
  size_t pos = 0;
  std::vector<OutputPiece> pieces;
  ExprPtr expr, filter;
  Target target;
  std::vector<Target> targets;  // with
  std::vector<ExprPtr> values;  // with
  Body body, else_body;
  bool recursive = false;
  // Macros and call blocks: Jinja passes varargs/kwargs/caller only to bodies that use them.
  std::string name;
  std::vector<Param> params;
  bool uses_varargs = false, uses_kwargs = false, uses_caller = false;
};

}  // namespace ast
}  // namespace yz::tmpl
