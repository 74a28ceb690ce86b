// The parser's state and helpers, shared by parser.cc (statements) and parser_expr.cc
// (expressions). Internal to the template library.
#pragma once

#include <initializer_list>
#include <string>
#include <vector>

#include "template/ast.h"
#include "template/lexer.h"
#include "template/parser.h"

namespace yz::tmpl {

class Parser {
 public:
  explicit Parser(const std::vector<Token>& tokens) : t_(tokens) {}
  ast::Body parse_template();

  // Expressions (parser_expr.cc).
  ast::ExprPtr parse_expression(bool with_condexpr = true);
  ast::ExprPtr parse_tuple(bool simplified = false, bool with_condexpr = true,
                           std::initializer_list<const char*> extra_end = {},
                           bool explicit_parentheses = false);
  ast::ExprPtr parse_primary();
  ast::ExprPtr parse_filter(ast::ExprPtr node, bool start_inline = false);
  void parse_call_args(ast::CallArgs* out);

 private:
  // Statements (parser.cc).
  ast::Body subparse(std::initializer_list<const char*> end_tokens, bool at_top = false);
  ast::Body parse_statements(std::initializer_list<const char*> end_tokens, bool drop_needle);
  ast::StmtPtr parse_statement();
  ast::StmtPtr parse_for();
  ast::StmtPtr parse_if();
  ast::StmtPtr parse_set();
  ast::StmtPtr parse_macro();
  ast::StmtPtr parse_call_block();
  ast::StmtPtr parse_filter_block();
  ast::StmtPtr parse_with();
  ast::StmtPtr parse_print();
  ast::StmtPtr parse_generation();
  void parse_signature(ast::Stmt* s);
  ast::Target parse_assign_target(bool with_tuple, bool name_only,
                                  std::initializer_list<const char*> extra_end,
                                  bool with_namespace);
  ast::Body parse_macro_body(ast::Stmt* s, const char* end_tag);

  // Expressions (parser_expr.cc).
  ast::ExprPtr parse_condexpr();
  ast::ExprPtr parse_or();
  ast::ExprPtr parse_and();
  ast::ExprPtr parse_not();
  ast::ExprPtr parse_compare();
  ast::ExprPtr parse_math1();
  ast::ExprPtr parse_concat();
  ast::ExprPtr parse_math2();
  ast::ExprPtr parse_pow();
  ast::ExprPtr parse_unary(bool with_filter = true);
  ast::ExprPtr parse_list();
  ast::ExprPtr parse_dict();
  ast::ExprPtr parse_postfix(ast::ExprPtr node);
  ast::ExprPtr parse_filter_expr(ast::ExprPtr node);
  ast::ExprPtr parse_subscript(ast::ExprPtr node);
  ast::ExprPtr parse_subscribed(ast::ExprPtr* slice_parts, bool* is_slice);
  ast::ExprPtr parse_call(ast::ExprPtr node);
  ast::ExprPtr parse_test(ast::ExprPtr node);

 public:
  // Token helpers.
  const Token& cur() const { return t_[i_]; }
  const Token& look() const { return t_[i_ + 1 < t_.size() ? i_ + 1 : i_]; }
  const Token& next() { return t_[i_ < t_.size() - 1 ? i_++ : i_]; }
  bool is_name(const char* n) const { return is_name(cur(), n); }
  static bool is_name(const Token& t, const char* n) {
    return t.type == TokenType::kName && t.value == n;
  }
  bool is_op(const char* op) const { return is_op(cur(), op); }
  static bool is_op(const Token& t, const char* op) {
    return t.type == TokenType::kOperator && t.value == op;
  }
  bool skip_name(const char* n);
  bool skip_op(const char* op);
  const Token& expect(TokenType type);
  const Token& expect_name(const char* n);
  const Token& expect_op(const char* op);
  [[noreturn]] void fail(const std::string& msg, size_t pos) const { throw SyntaxError(msg, pos); }
  [[noreturn]] void fail(const std::string& msg) const { fail(msg, cur().pos); }
  static std::string describe(const Token& t);
  ast::ExprPtr node(ast::ExprKind kind, size_t pos) const;

  // Recursion guard for nested expressions and blocks.
  struct Nest {
    explicit Nest(Parser* p) : p(p) {
      if (++p->nesting_ > kMaxParseNesting)
        p->fail("nested deeper than " + std::to_string(kMaxParseNesting) + " levels");
    }
    ~Nest() { --p->nesting_; }
    Parser* p;
  };
  // A chain of operators (a + b + c, x|f|g, a.b(c).d) deepens the tree by one per link.
  struct Chain {
    explicit Chain(Parser* p) : p(p) {}
    void link() {
      ++links;
      if (++p->nesting_ > kMaxParseNesting)
        p->fail("nested deeper than " + std::to_string(kMaxParseNesting) + " levels");
    }
    ~Chain() { p->nesting_ -= links; }
    Parser* p;
    int links = 0;
  };

 private:
  const std::vector<Token>& t_;
  size_t i_ = 0;
  int nesting_ = 0;
  int loop_depth_ = 0;  // break/continue are valid inside a for body only
  std::vector<std::string> tag_stack_;
  std::vector<std::vector<std::string>> end_token_stack_;
};

}  // namespace yz::tmpl
