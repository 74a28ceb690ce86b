// Statement parsing (jinja2/parser.py: subparse, parse_statement and the parse_<tag> methods).
#include "template/parser.h"

#include <functional>

#include "template/parser_impl.h"

namespace yz::tmpl {

using ast::ExprKind;
using ast::StmtKind;

namespace {

// Whether `body` (not counting nested macros) reads `name`: Jinja hands varargs, kwargs and
// caller to a macro only when its body refers to them (find_undeclared in the compiler).
bool uses_name(const ast::Expr* e, const std::string& name);
bool uses_name(const ast::Body& body, const std::string& name);

bool uses_args(const ast::CallArgs& c, const std::string& name) {
  for (const auto& a : c.args)
    if (uses_name(a.get(), name)) return true;
  for (const auto& kv : c.kwargs)
    if (uses_name(kv.second.get(), name)) return true;
  return uses_name(c.star_args.get(), name) || uses_name(c.star_kwargs.get(), name);
}

bool uses_name(const ast::Expr* e, const std::string& name) {
  if (!e) return false;
  if (e->kind == ExprKind::kName && e->name == name) return true;
  for (const auto* sub : {e->a.get(), e->b.get(), e->c.get(), e->d.get()})
    if (uses_name(sub, name)) return true;
  for (const auto& x : e->items)
    if (uses_name(x.get(), name)) return true;
  return uses_args(e->call, name);
}

bool uses_name(const ast::Body& body, const std::string& name) {
  for (const auto& s : body) {
    if (s->kind == StmtKind::kMacro) continue;
    for (const auto& p : s->pieces)
      if (uses_name(p.expr.get(), name)) return true;
    if (uses_name(s->expr.get(), name) || uses_name(s->filter.get(), name)) return true;
    for (const auto& v : s->values)
      if (uses_name(v.get(), name)) return true;
    for (const auto& p : s->params)
      if (uses_name(p.default_value.get(), name)) return true;
    if (uses_name(s->body, name) || uses_name(s->else_body, name)) return true;
  }
  return false;
}

}  // namespace

ast::Body parse(const std::vector<Token>& tokens) { return Parser(tokens).parse_template(); }

ast::Body Parser::parse_template() { return subparse({}, /*at_top=*/true); }

bool Parser::skip_name(const char* n) {
  if (!is_name(n)) return false;
  next();
  return true;
}

bool Parser::skip_op(const char* op) {
  if (!is_op(op)) return false;
  next();
  return true;
}

std::string Parser::describe(const Token& t) {
  switch (t.type) {
    case TokenType::kData: return "template data";
    case TokenType::kVariableBegin: return "begin of print statement";
    case TokenType::kVariableEnd: return "end of print statement";
    case TokenType::kBlockBegin: return "begin of statement block";
    case TokenType::kBlockEnd: return "end of statement block";
    case TokenType::kString: return "string";
    case TokenType::kInteger: return "integer";
    case TokenType::kFloat: return "float";
    case TokenType::kEof: return "end of template";
    default: return t.value;
  }
}

const Token& Parser::expect(TokenType type) {
  if (cur().type != type) {
    Token want;
    want.type = type;
    fail("expected token '" + describe(want) + "', got '" + describe(cur()) + "'");
  }
  return next();
}

const Token& Parser::expect_name(const char* n) {
  if (!is_name(n)) fail(std::string("expected '") + n + "', got '" + describe(cur()) + "'");
  return next();
}

const Token& Parser::expect_op(const char* op) {
  if (!is_op(op)) fail(std::string("expected '") + op + "', got '" + describe(cur()) + "'");
  return next();
}

ast::ExprPtr Parser::node(ExprKind kind, size_t pos) const {
  auto e = std::make_unique<ast::Expr>();
  e->kind = kind;
  e->pos = pos;
  return e;
}

ast::Body Parser::subparse(std::initializer_list<const char*> end_tokens, bool at_top) {
  Nest nest(this);
  ast::Body body;
  std::unique_ptr<ast::Stmt> out;
  auto flush = [&] {
    if (out) body.push_back(std::move(out));
  };
  auto piece_target = [&](size_t pos) -> ast::Stmt& {
    if (!out) {
      out = std::make_unique<ast::Stmt>();
      out->kind = StmtKind::kOutput;
      out->pos = pos;
    }
    return *out;
  };
  if (!at_top) end_token_stack_.emplace_back(end_tokens.begin(), end_tokens.end());
  while (cur().type != TokenType::kEof) {
    const Token& tok = cur();
    if (tok.type == TokenType::kData) {
      piece_target(tok.pos).pieces.push_back({tok.value, nullptr});
      next();
    } else if (tok.type == TokenType::kVariableBegin) {
      next();
      ast::ExprPtr e = parse_tuple();
      piece_target(tok.pos).pieces.push_back({"", std::move(e)});
      expect(TokenType::kVariableEnd);
    } else if (tok.type == TokenType::kBlockBegin) {
      flush();
      next();
      for (const char* end : end_tokens) {
        if (is_name(end)) {
          end_token_stack_.pop_back();
          return body;
        }
      }
      body.push_back(parse_statement());
      expect(TokenType::kBlockEnd);
    } else {
      fail("unexpected '" + describe(tok) + "'");
    }
  }
  flush();
  if (!at_top) end_token_stack_.pop_back();
  return body;
}

ast::Body Parser::parse_statements(std::initializer_list<const char*> end_tokens,
                                   bool drop_needle) {
  skip_op(":");
  expect(TokenType::kBlockEnd);
  ast::Body body = subparse(end_tokens);
  if (cur().type == TokenType::kEof) {
    std::string want;
    for (const char* e : end_tokens) want += std::string(want.empty() ? "'" : " or '") + e + "'";
    fail("unexpected end of template, expected " + want +
         (tag_stack_.empty() ? "" : " to close '" + tag_stack_.back() + "'"));
  }
  if (drop_needle) next();
  return body;
}

ast::StmtPtr Parser::parse_statement() {
  const Token& tok = cur();
  if (tok.type != TokenType::kName) fail("tag name expected");
  const std::string tag = tok.value;
  tag_stack_.push_back(tag);
  ast::StmtPtr s;
  if (tag == "for") s = parse_for();
  else if (tag == "if") s = parse_if();
  else if (tag == "set") s = parse_set();
  else if (tag == "macro") s = parse_macro();
  else if (tag == "call") s = parse_call_block();
  else if (tag == "filter") s = parse_filter_block();
  else if (tag == "with") s = parse_with();
  else if (tag == "print") s = parse_print();
  else if (tag == "generation") s = parse_generation();
  else if (tag == "break" || tag == "continue") {
    if (loop_depth_ == 0) fail("'" + tag + "' outside of a loop");
    s = std::make_unique<ast::Stmt>();
    s->kind = tag == "break" ? StmtKind::kBreak : StmtKind::kContinue;
    s->pos = next().pos;
  } else if (tag == "block" || tag == "extends" || tag == "include" || tag == "import" ||
             tag == "from" || tag == "autoescape") {
    fail("tag '" + tag + "' is not supported (chat templates render without a loader)");
  } else {
    tag_stack_.pop_back();
    std::string msg = "encountered unknown tag '" + tag + "'.";
    if (!end_token_stack_.empty()) {
      std::string want;
      for (const auto& e : end_token_stack_.back())
        want += (want.empty() ? "'" : " or '") + e + "'";
      msg += " Jinja was looking for the following tags: " + want + ".";
    }
    if (!tag_stack_.empty())
      msg += " The innermost block that needs to be closed is '" + tag_stack_.back() + "'.";
    fail(msg, tok.pos);
  }
  tag_stack_.pop_back();
  return s;
}

ast::StmtPtr Parser::parse_for() {
  auto s = std::make_unique<ast::Stmt>();
  s->kind = StmtKind::kFor;
  s->pos = expect_name("for").pos;
  s->target = parse_assign_target(true, false, {"in"}, false);
  expect_name("in");
  s->expr = parse_tuple(false, false, {"recursive"});
  if (skip_name("if")) s->filter = parse_expression();
  s->recursive = skip_name("recursive");
  ++loop_depth_;
  s->body = parse_statements({"endfor", "else"}, false);
  --loop_depth_;
  if (next().value != "endfor") s->else_body = parse_statements({"endfor"}, true);
  return s;
}

ast::StmtPtr Parser::parse_if() {
  auto s = std::make_unique<ast::Stmt>();
  s->kind = StmtKind::kIf;
  s->pos = expect_name("if").pos;
  ast::Stmt* node = s.get();
  for (;;) {
    node->expr = parse_tuple(false, false);
    node->body = parse_statements({"elif", "else", "endif"}, false);
    const Token& tok = next();
    if (tok.value == "elif") {
      auto elif = std::make_unique<ast::Stmt>();
      elif->kind = StmtKind::kIf;
      elif->pos = tok.pos;
      ast::Stmt* raw = elif.get();
      node->else_body.push_back(std::move(elif));
      node = raw;
      continue;
    }
    if (tok.value == "else") node->else_body = parse_statements({"endif"}, true);
    break;
  }
  return s;
}

ast::StmtPtr Parser::parse_set() {
  auto s = std::make_unique<ast::Stmt>();
  s->pos = expect_name("set").pos;
  s->target = parse_assign_target(true, false, {}, true);
  if (skip_op("=")) {
    s->kind = StmtKind::kSet;
    s->expr = parse_tuple();
    return s;
  }
  s->kind = StmtKind::kSetBlock;
  s->filter = parse_filter(nullptr);
  s->body = parse_statements({"endset"}, true);
  return s;
}

void Parser::parse_signature(ast::Stmt* s) {
  expect_op("(");
  while (!is_op(")")) {
    if (!s->params.empty()) expect_op(",");
    ast::Param p;
    p.name = expect(TokenType::kName).value;
    if (skip_op("=")) p.default_value = parse_expression();
    else if (!s->params.empty() && s->params.back().default_value)
      fail("non-default argument follows default argument");
    s->params.push_back(std::move(p));
  }
  expect_op(")");
}

ast::Body Parser::parse_macro_body(ast::Stmt* s, const char* end_tag) {
  const int saved = loop_depth_;
  loop_depth_ = 0;  // a loop around the definition is not a loop around the body
  ast::Body body = parse_statements({end_tag}, true);
  loop_depth_ = saved;
  s->uses_varargs = uses_name(body, "varargs");
  s->uses_kwargs = uses_name(body, "kwargs");
  s->uses_caller = uses_name(body, "caller");
  return body;
}

ast::StmtPtr Parser::parse_macro() {
  auto s = std::make_unique<ast::Stmt>();
  s->kind = StmtKind::kMacro;
  s->pos = expect_name("macro").pos;
  s->name = expect(TokenType::kName).value;
  parse_signature(s.get());
  s->body = parse_macro_body(s.get(), "endmacro");
  return s;
}

ast::StmtPtr Parser::parse_call_block() {
  auto s = std::make_unique<ast::Stmt>();
  s->kind = StmtKind::kCallBlock;
  s->pos = expect_name("call").pos;
  s->name = "caller";
  if (is_op("(")) parse_signature(s.get());
  s->expr = parse_expression();
  if (s->expr->kind != ExprKind::kCall) fail("expected call", s->pos);
  s->body = parse_macro_body(s.get(), "endcall");
  return s;
}

ast::StmtPtr Parser::parse_filter_block() {
  auto s = std::make_unique<ast::Stmt>();
  s->kind = StmtKind::kFilterBlock;
  s->pos = expect_name("filter").pos;
  s->filter = parse_filter(nullptr, /*start_inline=*/true);
  s->body = parse_statements({"endfilter"}, true);
  return s;
}

ast::StmtPtr Parser::parse_with() {
  auto s = std::make_unique<ast::Stmt>();
  s->kind = StmtKind::kWith;
  s->pos = expect_name("with").pos;
  while (cur().type != TokenType::kBlockEnd) {
    if (!s->targets.empty()) expect_op(",");
    s->targets.push_back(parse_assign_target(true, false, {}, false));
    expect_op("=");
    s->values.push_back(parse_expression());
  }
  s->body = parse_statements({"endwith"}, true);
  return s;
}

ast::StmtPtr Parser::parse_print() {
  auto s = std::make_unique<ast::Stmt>();
  s->kind = StmtKind::kOutput;
  s->pos = expect_name("print").pos;
  while (cur().type != TokenType::kBlockEnd) {
    if (!s->pieces.empty()) expect_op(",");
    s->pieces.push_back({"", parse_expression()});
  }
  return s;
}

ast::StmtPtr Parser::parse_generation() {
  // transformers' AssistantTracker: a CallBlock around the body, so the body has its own scope.
  auto s = std::make_unique<ast::Stmt>();
  s->kind = StmtKind::kGeneration;
  s->pos = expect_name("generation").pos;
  const int saved = loop_depth_;
  loop_depth_ = 0;
  s->body = parse_statements({"endgeneration"}, true);
  loop_depth_ = saved;
  return s;
}

ast::Target Parser::parse_assign_target(bool with_tuple, bool name_only,
                                        std::initializer_list<const char*> extra_end,
                                        bool with_namespace) {
  ast::Target t;
  t.pos = cur().pos;
  if (with_namespace && cur().type == TokenType::kName && is_op(look(), ".")) {
    t.kind = ast::Target::Kind::kNamespaceAttr;
    t.name = next().value;
    next();
    t.attr = expect(TokenType::kName).value;
    return t;
  }
  if (name_only) {
    t.name = expect(TokenType::kName).value;
    return t;
  }
  ast::ExprPtr e = with_tuple ? parse_tuple(/*simplified=*/true, true, extra_end) : parse_primary();
  // Jinja's can_assign(): names, and tuples of assignable targets.
  std::function<ast::Target(const ast::Expr&)> convert = [&](const ast::Expr& x) {
    ast::Target r;
    r.pos = x.pos;
    if (x.kind == ExprKind::kName) {
      r.name = x.name;
    } else if (x.kind == ExprKind::kTuple) {
      r.kind = ast::Target::Kind::kTuple;
      for (const auto& item : x.items) r.items.push_back(convert(*item));
    } else {
      fail(x.kind == ExprKind::kLiteral ? "can't assign to 'const'" : "can't assign to this expression",
           x.pos);
    }
    return r;
  };
  return convert(*e);
}

}  // namespace yz::tmpl
