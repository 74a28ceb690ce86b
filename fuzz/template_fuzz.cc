// libFuzzer target: the template compiler and renderer must turn any input into a rendering or
// a yz::Error, and never crash, read out of bounds, leak, overflow the stack or hang (built
// with ASan + UBSan). The input is the template source; it renders over a chat-like context
// with tight limits so each run stays fast.
#include <cstddef>
#include <cstdint>
#include <string>

#include "template/template.h"
#include "util/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const yz::tmpl::Json context = yz::tmpl::Json::parse(R"({
    "messages": [{"role": "system", "content": "Be brief."},
                 {"role": "user", "content": "Revenue in 2023? 营业收入"},
                 {"role": "assistant", "content": "<think>\nsum\n</think>\n\n$383B",
                  "tool_calls": [{"id": "call12345", "type": "function",
                                  "function": {"name": "get", "arguments": {"t": "AAPL", "n": 1.5}}}]},
                 {"role": "tool", "tool_call_id": "call12345", "content": "{\"close\": 171.2}"},
                 {"role": "user", "content": ""}],
    "tools": [{"type": "function", "function": {"name": "get", "parameters": {"type": "object",
               "properties": {"t": {"type": "string"}}, "required": ["t"]}}}],
    "documents": null, "add_generation_prompt": true, "bos_token": "<s>", "eos_token": "</s>",
    "enable_thinking": false, "n": 3, "f": -0.5, "tree": [[1, [2, [3]]], {"k": {"k": null}}]})");
  yz::tmpl::RenderOptions options;
  options.limits.max_output_bytes = 1 << 20;
  options.limits.max_recursion_depth = 24;
  options.limits.max_iterations = 20000;
  try {
    auto t = yz::tmpl::Template::compile(std::string(reinterpret_cast<const char*>(data), size), "fuzz");
    t->render(context, options);
  } catch (const yz::Error&) {
  }
  return 0;
}
