// The methods templates call on values (message.content.startswith(...), tool.items(),
// loop.cycle(...)): one table, resolved by name once at parse time (methods.cc).
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "template/value.h"

namespace yz::tmpl {

class Interpreter;
struct Args;

// X(enum, name, types). Types: str, dict (or refused on dict as mutating), list (or refused),
// loop context.
#define YZ_TEMPLATE_METHODS(X)                                                              \
  X(kStartswith, "startswith", kOnStr) X(kEndswith, "endswith", kOnStr)                     \
  X(kStrip, "strip", kOnStr) X(kLstrip, "lstrip", kOnStr) X(kRstrip, "rstrip", kOnStr)      \
  X(kSplit, "split", kOnStr) X(kRsplit, "rsplit", kOnStr)                                   \
  X(kSplitlines, "splitlines", kOnStr) X(kReplace, "replace", kOnStr)                       \
  X(kLower, "lower", kOnStr) X(kUpper, "upper", kOnStr) X(kTitle, "title", kOnStr)          \
  X(kCapitalize, "capitalize", kOnStr) X(kFind, "find", kOnStr) X(kRfind, "rfind", kOnStr)  \
  X(kIndex, "index", kOnStr | kOnList) X(kRindex, "rindex", kOnStr)                         \
  X(kCount, "count", kOnStr | kOnList) X(kJoin, "join", kOnStr)                             \
  X(kIsdigit, "isdigit", kOnStr) X(kIsalpha, "isalpha", kOnStr)                             \
  X(kIsalnum, "isalnum", kOnStr) X(kIsspace, "isspace", kOnStr)                             \
  X(kIslower, "islower", kOnStr) X(kIsupper, "isupper", kOnStr)                             \
  X(kItems, "items", kOnDict) X(kKeys, "keys", kOnDict) X(kValues, "values", kOnDict)       \
  X(kGet, "get", kOnDict) X(kCopy, "copy", kOnDict)                                         \
  X(kPop, "pop", kDictUnsafe | kListUnsafe) X(kPopitem, "popitem", kDictUnsafe)             \
  X(kUpdate, "update", kDictUnsafe) X(kClear, "clear", kDictUnsafe | kListUnsafe)           \
  X(kSetdefault, "setdefault", kDictUnsafe) X(kAppend, "append", kListUnsafe)               \
  X(kExtend, "extend", kListUnsafe) X(kInsert, "insert", kListUnsafe)                       \
  X(kRemove, "remove", kListUnsafe) X(kReverse, "reverse", kListUnsafe)                     \
  X(kSort, "sort", kListUnsafe) X(kCycle, "cycle", kOnLoop) X(kChanged, "changed", kOnLoop)

enum class Method : uint8_t {
  kNone,
#define YZ_METHOD(id, name, on) id,
  YZ_TEMPLATE_METHODS(YZ_METHOD)
#undef YZ_METHOD
};
Method method_from_name(std::string_view name);
const char* method_name(Method m);

// Whether `self` has method `m`: kUnsafe is a mutating method the immutable sandbox refuses.
enum class MethodKind : uint8_t { kNone, kSafe, kUnsafe };
MethodKind method_kind(const Value& self, Method m);
// The attribute `m` of a value when it is a method (a bound method, or the sandbox's refusal
// as an Undefined); nullopt otherwise.
std::optional<Value> lookup_method(const Value& self, Method m);
Value call_method(Interpreter& in, const Value& self, Method m, Args& args);

}  // namespace yz::tmpl
