// Tokens -> AST, following jinja2/parser.py (3.1): the same precedence, tuple rules, test
// argument rules and statement set, plus the loopcontrols extension and transformers'
// {% generation %} tag. Throws SyntaxError.
#pragma once

#include <vector>

#include "template/ast.h"
#include "template/lexer.h"

namespace yz::tmpl {

// Deepest nesting of expressions and blocks the parser accepts. The parser and the evaluator
// recurse once per level, and a chain like a + b + c nests one level per operator, so this
// bounds the stack for any input.
inline constexpr int kMaxParseNesting = 256;

ast::Body parse(const std::vector<Token>& tokens);

}  // namespace yz::tmpl
