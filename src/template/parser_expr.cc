// Expression parsing, precedence from low to high as in jinja2/parser.py:
// condexpr, or, and, not, compare (== != < <= > >= in, not in), + -, ~, * / // %, **,
// unary - +, then primary with postfix (.attr [sub] (call)) and filters/tests (| is).
#include "template/filters.h"
#include "template/parser_impl.h"

namespace yz::tmpl {

using ast::BinOp;
using ast::CmpOp;
using ast::ExprKind;
using ast::ExprPtr;

ExprPtr Parser::parse_expression(bool with_condexpr) {
  Nest nest(this);
  return with_condexpr ? parse_condexpr() : parse_or();
}

ExprPtr Parser::parse_condexpr() {
  size_t pos = cur().pos;
  ExprPtr expr1 = parse_or();
  Chain chain(this);
  while (skip_name("if")) {
    chain.link();
    ExprPtr e = node(ExprKind::kCond, pos);
    e->a = parse_or();  // condition
    e->b = std::move(expr1);
    if (skip_name("else")) {
      Nest nest(this);
      e->c = parse_condexpr();
    }
    expr1 = std::move(e);
    pos = cur().pos;
  }
  return expr1;
}

ExprPtr Parser::parse_or() {
  ExprPtr left = parse_and();
  Chain chain(this);
  while (is_name("or")) {
    chain.link();
    ExprPtr e = node(ExprKind::kOr, next().pos);
    e->a = std::move(left);
    e->b = parse_and();
    left = std::move(e);
  }
  return left;
}

ExprPtr Parser::parse_and() {
  ExprPtr left = parse_not();
  Chain chain(this);
  while (is_name("and")) {
    chain.link();
    ExprPtr e = node(ExprKind::kAnd, next().pos);
    e->a = std::move(left);
    e->b = parse_not();
    left = std::move(e);
  }
  return left;
}

ExprPtr Parser::parse_not() {
  if (is_name("not")) {
    Nest nest(this);
    ExprPtr e = node(ExprKind::kNot, next().pos);
    e->a = parse_not();
    return e;
  }
  return parse_compare();
}

ExprPtr Parser::parse_compare() {
  const size_t pos = cur().pos;
  ExprPtr expr = parse_math1();
  ExprPtr cmp;
  for (;;) {
    CmpOp op;
    if (is_op("==")) op = CmpOp::kEq;
    else if (is_op("!=")) op = CmpOp::kNe;
    else if (is_op("<")) op = CmpOp::kLt;
    else if (is_op("<=")) op = CmpOp::kLe;
    else if (is_op(">")) op = CmpOp::kGt;
    else if (is_op(">=")) op = CmpOp::kGe;
    else if (is_name("in")) op = CmpOp::kIn;
    else if (is_name("not") && is_name(look(), "in")) op = CmpOp::kNotIn;
    else break;
    if (op == CmpOp::kNotIn) next();
    next();
    if (!cmp) {
      cmp = node(ExprKind::kCompare, pos);
      cmp->a = std::move(expr);
    }
    cmp->cmp_ops.push_back(op);
    cmp->items.push_back(parse_math1());
  }
  return cmp ? std::move(cmp) : std::move(expr);
}

namespace {
ExprPtr binary(ExprPtr node, BinOp op, ExprPtr a, ExprPtr b) {
  node->bin_op = op;
  node->a = std::move(a);
  node->b = std::move(b);
  return node;
}
}  // namespace

ExprPtr Parser::parse_math1() {
  ExprPtr left = parse_concat();
  Chain chain(this);
  while (is_op("+") || is_op("-")) {
    chain.link();
    const Token& t = next();
    left = binary(node(ExprKind::kBinary, t.pos), t.value == "+" ? BinOp::kAdd : BinOp::kSub,
                  std::move(left), parse_concat());
  }
  return left;
}

ExprPtr Parser::parse_concat() {
  const size_t pos = cur().pos;
  ExprPtr first = parse_math2();
  if (!is_op("~")) return first;
  ExprPtr e = node(ExprKind::kConcat, pos);
  e->items.push_back(std::move(first));
  while (skip_op("~")) e->items.push_back(parse_math2());
  return e;
}

ExprPtr Parser::parse_math2() {
  ExprPtr left = parse_pow();
  Chain chain(this);
  for (;;) {
    BinOp op;
    if (is_op("*")) op = BinOp::kMul;
    else if (is_op("/")) op = BinOp::kDiv;
    else if (is_op("//")) op = BinOp::kFloorDiv;
    else if (is_op("%")) op = BinOp::kMod;
    else break;
    chain.link();
    const size_t pos = next().pos;
    left = binary(node(ExprKind::kBinary, pos), op, std::move(left), parse_pow());
  }
  return left;
}

ExprPtr Parser::parse_pow() {
  ExprPtr left = parse_unary();
  Chain chain(this);
  while (is_op("**")) {
    chain.link();
    const size_t pos = next().pos;
    left = binary(node(ExprKind::kBinary, pos), BinOp::kPow, std::move(left), parse_unary());
  }
  return left;
}

ExprPtr Parser::parse_unary(bool with_filter) {
  ExprPtr n;
  if (is_op("-") || is_op("+")) {
    Nest nest(this);
    const Token& t = next();
    n = node(t.value == "-" ? ExprKind::kNeg : ExprKind::kPos, t.pos);
    n->a = parse_unary(false);
  } else {
    n = parse_primary();
  }
  n = parse_postfix(std::move(n));
  if (with_filter) n = parse_filter_expr(std::move(n));
  return n;
}

ExprPtr Parser::parse_primary() {
  const Token& t = cur();
  ExprPtr e;
  switch (t.type) {
    case TokenType::kName:
      if (t.value == "true" || t.value == "True" || t.value == "false" || t.value == "False") {
        e = node(ExprKind::kLiteral, t.pos);
        e->literal = Value(t.value == "true" || t.value == "True");
      } else if (t.value == "none" || t.value == "None") {
        e = node(ExprKind::kLiteral, t.pos);
        e->literal = Value::none();
      } else {
        e = node(ExprKind::kName, t.pos);
        e->name = t.value;
      }
      next();
      return e;
    case TokenType::kString: {
      e = node(ExprKind::kLiteral, t.pos);
      std::string s;
      while (cur().type == TokenType::kString) s += next().value;  // 'a' 'b' == 'ab'
      e->literal = Value(std::move(s));
      return e;
    }
    case TokenType::kInteger:
    case TokenType::kFloat:
      e = node(ExprKind::kLiteral, t.pos);
      e->literal = t.type == TokenType::kInteger ? Value(t.integer) : Value(t.number);
      next();
      return e;
    case TokenType::kOperator:
      if (t.value == "(") {
        next();
        e = parse_tuple(false, true, {}, /*explicit_parentheses=*/true);
        expect_op(")");
        return e;
      }
      if (t.value == "[") return parse_list();
      if (t.value == "{") return parse_dict();
      break;
    default:
      break;
  }
  fail("unexpected '" + describe(t) + "'");
}

ExprPtr Parser::parse_tuple(bool simplified, bool with_condexpr,
                            std::initializer_list<const char*> extra_end,
                            bool explicit_parentheses) {
  const size_t pos = cur().pos;
  auto is_tuple_end = [&] {
    if (cur().type == TokenType::kVariableEnd || cur().type == TokenType::kBlockEnd || is_op(")"))
      return true;
    for (const char* n : extra_end)
      if (is_name(n)) return true;
    return false;
  };
  std::vector<ExprPtr> args;
  bool is_tuple = false;
  for (;;) {
    if (!args.empty()) expect_op(",");
    if (is_tuple_end()) break;
    args.push_back(simplified ? parse_primary() : parse_expression(with_condexpr));
    if (is_op(",")) is_tuple = true;
    else break;
  }
  if (!is_tuple) {
    if (!args.empty()) return std::move(args[0]);
    if (!explicit_parentheses) fail("expected an expression, got '" + describe(cur()) + "'");
  }
  ExprPtr e = node(ExprKind::kTuple, pos);
  e->items = std::move(args);
  return e;
}

ExprPtr Parser::parse_list() {
  ExprPtr e = node(ExprKind::kList, expect_op("[").pos);
  while (!is_op("]")) {
    if (!e->items.empty()) expect_op(",");
    if (is_op("]")) break;
    e->items.push_back(parse_expression());
  }
  expect_op("]");
  return e;
}

ExprPtr Parser::parse_dict() {
  ExprPtr e = node(ExprKind::kDict, expect_op("{").pos);
  while (!is_op("}")) {
    if (!e->items.empty()) expect_op(",");
    if (is_op("}")) break;
    e->items.push_back(parse_expression());
    expect_op(":");
    e->items.push_back(parse_expression());
  }
  expect_op("}");
  return e;
}

ExprPtr Parser::parse_postfix(ExprPtr n) {
  Chain chain(this);
  for (;;) {
    if (is_op(".") || is_op("[")) n = parse_subscript(std::move(n));
    else if (is_op("(")) n = parse_call(std::move(n));
    else return n;
    chain.link();
  }
}

ExprPtr Parser::parse_filter_expr(ExprPtr n) {
  Chain chain(this);
  for (;;) {
    if (is_op("|")) n = parse_filter(std::move(n));
    else if (is_name("is")) n = parse_test(std::move(n));
    else if (is_op("(")) n = parse_call(std::move(n));
    else return n;
    chain.link();
  }
}

ExprPtr Parser::parse_subscript(ExprPtr n) {
  const Token& t = next();
  if (t.value == ".") {
    const Token& attr = next();
    if (attr.type == TokenType::kName) {
      ExprPtr e = node(ExprKind::kGetAttr, t.pos);
      e->a = std::move(n);
      e->name = attr.value;
      e->method = method_from_name(e->name);
      return e;
    }
    if (attr.type != TokenType::kInteger) fail("expected name or number", attr.pos);
    ExprPtr e = node(ExprKind::kGetItem, t.pos);
    e->a = std::move(n);
    e->b = node(ExprKind::kLiteral, attr.pos);
    e->b->literal = Value(attr.integer);
    return e;
  }
  // '[': one subscript (maybe a slice) or several, which form a tuple key.
  std::vector<ExprPtr> args;
  ExprPtr slice[3];
  bool any_slice = false;
  while (!is_op("]")) {
    if (!args.empty()) expect_op(",");
    bool is_slice = false;
    ExprPtr parts[3];
    ExprPtr x = parse_subscribed(parts, &is_slice);
    if (is_slice) {
      any_slice = true;
      for (int k = 0; k < 3; ++k) slice[k] = std::move(parts[k]);
    }
    args.push_back(std::move(x));
  }
  expect_op("]");
  if (any_slice) {
    if (args.size() != 1) fail("slices inside a tuple subscript are not supported", t.pos);
    ExprPtr e = node(ExprKind::kSlice, t.pos);
    e->a = std::move(n);
    e->b = std::move(slice[0]);
    e->c = std::move(slice[1]);
    e->d = std::move(slice[2]);
    return e;
  }
  if (args.empty()) fail("expected subscript expression", t.pos);
  ExprPtr e = node(ExprKind::kGetItem, t.pos);
  e->a = std::move(n);
  if (args.size() == 1) {
    e->b = std::move(args[0]);
  } else {
    e->b = node(ExprKind::kTuple, t.pos);
    e->b->items = std::move(args);
  }
  return e;
}

// One subscript: an expression, or start:stop[:step] with any part left out.
ExprPtr Parser::parse_subscribed(ExprPtr* parts, bool* is_slice) {
  const size_t pos = cur().pos;
  if (!is_op(":")) {
    ExprPtr first = parse_expression();
    if (!is_op(":")) return first;
    parts[0] = std::move(first);
  }
  next();  // ':'
  *is_slice = true;
  if (!is_op(":") && !is_op("]") && !is_op(",")) parts[1] = parse_expression();
  if (skip_op(":")) {
    if (!is_op("]") && !is_op(",")) parts[2] = parse_expression();
  }
  return node(ExprKind::kLiteral, pos);  // placeholder; the slice parts carry the meaning
}

void Parser::parse_call_args(ast::CallArgs* out) {
  const size_t pos = expect_op("(").pos;
  bool require_comma = false;
  auto ensure = [&](bool ok) {
    if (!ok) fail("invalid syntax for function call expression", pos);
  };
  while (!is_op(")")) {
    if (require_comma) {
      expect_op(",");
      if (is_op(")")) break;  // trailing comma
    }
    if (is_op("*")) {
      ensure(!out->star_args && !out->star_kwargs);
      next();
      out->star_args = parse_expression();
    } else if (is_op("**")) {
      ensure(!out->star_kwargs);
      next();
      out->star_kwargs = parse_expression();
    } else if (cur().type == TokenType::kName && is_op(look(), "=")) {
      ensure(!out->star_kwargs);
      std::string key = next().value;
      next();
      out->kwargs.emplace_back(std::move(key), parse_expression());
    } else {
      ensure(!out->star_args && !out->star_kwargs && out->kwargs.empty());
      out->args.push_back(parse_expression());
    }
    require_comma = true;
  }
  expect_op(")");
}

ExprPtr Parser::parse_call(ExprPtr n) {
  ExprPtr e = node(ExprKind::kCall, n->pos);  // errors point at what is called
  e->a = std::move(n);
  parse_call_args(&e->call);
  return e;
}

ExprPtr Parser::parse_filter(ExprPtr n, bool start_inline) {
  Chain chain(this);
  while (is_op("|") || start_inline) {
    chain.link();
    if (!start_inline) next();
    start_inline = false;
    const Token& t = expect(TokenType::kName);
    std::string name = t.value;
    while (skip_op(".")) name += "." + expect(TokenType::kName).value;
    ExprPtr e = node(ExprKind::kFilter, t.pos);
    e->fn = find_filter(name);
    if (!e->fn) {
      fail(is_unsupported_jinja_filter(name) ? "filter '" + name + "' is not supported"
                                             : "no filter named '" + name + "'",
           t.pos);
    }
    e->name = name;
    e->a = std::move(n);
    if (is_op("(")) parse_call_args(&e->call);
    n = std::move(e);
  }
  return n;
}

ExprPtr Parser::parse_test(ExprPtr n) {
  const size_t pos = next().pos;  // 'is'
  const bool negated = skip_name("not");
  const Token& t = expect(TokenType::kName);
  std::string name = t.value;
  while (skip_op(".")) name += "." + expect(TokenType::kName).value;
  ExprPtr e = node(ExprKind::kTest, pos);
  e->fn = find_test(name);
  if (!e->fn) fail("no test named '" + name + "'", t.pos);
  e->name = name;
  e->a = std::move(n);
  const TokenType ty = cur().type;
  if (is_op("(")) {
    parse_call_args(&e->call);
  } else if ((ty == TokenType::kName || ty == TokenType::kString || ty == TokenType::kInteger ||
              ty == TokenType::kFloat || is_op("[") || is_op("{")) &&
             !is_name("else") && !is_name("or") && !is_name("and")) {
    // `x is divisibleby 3`, `x is sameas none`: one argument without parentheses.
    if (is_name("is")) fail("you cannot chain multiple tests with is");
    e->call.args.push_back(parse_postfix(parse_primary()));
  }
  if (!negated) return e;
  ExprPtr no = node(ExprKind::kNot, pos);
  no->a = std::move(e);
  return no;
}

}  // namespace yz::tmpl
