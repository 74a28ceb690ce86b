// The template library's own contract: error positions and messages, Undefined semantics,
// named limits, the injectable clock, the compiled-template cache and thread safety, and the
// chat API (model-directory lookup, named templates, special tokens, end-of-turn suffix,
// {% generation %} spans). Parity with Jinja itself is in engine_test.cc and parity_test.cc.
#include <gtest/gtest.h>

#include <thread>

#include "template/chat_template.h"
#include "template/template.h"
#include "test_util.h"

namespace yz::tmpl {
namespace {

const fs::path kTemplates = test::data_dir() / "templates";

std::string render(const std::string& src, const Json& ctx = Json::object(),
                   const RenderOptions& options = {}) {
  return Template::compile(src, "t.jinja")->render(ctx, options).text;
}

// The yz::Error message of compiling and rendering `src` ("" when it succeeds).
std::string error_of(const std::string& src, const Json& ctx = Json::object(),
                     const RenderOptions& options = {}) {
  try {
    render(src, ctx, options);
  } catch (const yz::Error& e) {
    return e.what();
  }
  return "";
}

#define EXPECT_ERROR(src, fragment)                                                      \
  do {                                                                                   \
    const std::string msg_ = error_of(src);                                              \
    EXPECT_NE(msg_.find(fragment), std::string::npos) << (src) << "\n  error: " << msg_; \
  } while (0)

TEST(TemplateErrors, SyntaxErrorsNameTheTemplateLineAndColumn) {
  EXPECT_EQ(error_of("a\n\n  {{ x + }}"), "t.jinja: line 3, column 10: unexpected 'end of print statement'");
  EXPECT_ERROR("{% if x %}open", "t.jinja: line 1, column 15: unexpected end of template, expected 'elif' or 'else' or 'endif' to close 'if'");
  EXPECT_ERROR("ok\n{% endfor %}", "t.jinja: line 2, column 4: encountered unknown tag 'endfor'.");
  EXPECT_ERROR("{% for x in y %}{% endif %}", "Jinja was looking for the following tags: 'endfor' or 'else'. The innermost block that needs to be closed is 'for'.");
  EXPECT_ERROR("{{ x|nosuch }}", "line 1, column 6: no filter named 'nosuch'");
  EXPECT_ERROR("{{ x|random }}", "filter 'random' is not supported");
  EXPECT_ERROR("{{ x is nosuch }}", "no test named 'nosuch'");
  EXPECT_ERROR("{% break %}", "'break' outside of a loop");
  EXPECT_ERROR("{% for x in y %}{% macro m() %}{% continue %}{% endmacro %}{% endfor %}", "'continue' outside of a loop");
  EXPECT_ERROR("{{ 'open }}", "unterminated string literal");
  EXPECT_ERROR("{# never closed", "missing end of comment tag");
  EXPECT_ERROR("{% raw %}never closed", "missing end of raw directive");
  EXPECT_ERROR("{% include 'x.jinja' %}", "tag 'include' is not supported");
  EXPECT_ERROR("{{ (1 }}", "unexpected '}'");
  EXPECT_ERROR("{{ 1) }}", "unexpected ')'");
  EXPECT_ERROR("{% set 1 = x %}", "can't assign to 'const'");
  EXPECT_ERROR("{{ '\\x4' }}", "truncated \\xXX escape");
  EXPECT_ERROR("{{ 99999999999999999999 }}", "does not fit in 64 bits");
  EXPECT_ERROR("{% macro m(a=1, b) %}{% endmacro %}", "non-default argument follows default argument");
  EXPECT_ERROR("{{ " + std::string(300, '(') + "1" + std::string(300, ')') + " }}",
               "nested deeper than 256 levels");
  std::string blocks;
  for (int i = 0; i < 300; ++i) blocks += "{% if x %}";
  EXPECT_ERROR(blocks, "nested deeper than 256 levels");
  std::string chain = "{{ x";
  for (int i = 0; i < 300; ++i) chain += " + x";
  EXPECT_ERROR(chain + " }}", "nested deeper than 256 levels");
  EXPECT_ERROR(std::string("{{ '\xff' }}"), "t.jinja: template is not valid UTF-8");
}

TEST(TemplateErrors, RenderErrorsPointAtTheFailingExpression) {
  EXPECT_EQ(error_of("line one\n  {{ 1 + 'a' }}"),
            "t.jinja: line 2, column 8: unsupported operand type(s) for +: 'int' and 'str'");
  EXPECT_EQ(error_of("{{ x.y.z }}", {{"x", Json::object()}}),
            "t.jinja: line 1, column 7: 'dict object' has no attribute 'y'");
  try {
    render("{% if true %}\n  {{ raise_exception('no: ' ~ 2) }}\n{% endif %}");
    FAIL();
  } catch (const RaiseError& e) {
    EXPECT_EQ(e.message(), "no: 2");
    EXPECT_EQ(std::string(e.what()), "t.jinja: line 2, column 6: raise_exception: no: 2");
  }
}

TEST(TemplateUndefined, BehavesAsJinjasDefaultUndefined) {
  const Json ctx = {{"d", {{"a", 1}}}, {"n", nullptr}};
  EXPECT_EQ(render("[{{ missing }}][{{ d.b }}][{{ n.x }}]", ctx), "[][][]");  // prints empty
  EXPECT_EQ(render("{{ missing is defined }} {{ not missing }} {% if missing %}x{% endif %}", ctx), "False True ");
  EXPECT_EQ(render("{{ missing|default('dflt') }} {{ missing|length }} {{ missing ~ '!' }}", ctx), "dflt 0 !");
  EXPECT_EQ(render("{% for x in missing %}x{% else %}empty{% endfor %}", ctx), "empty");
  EXPECT_NE(error_of("{{ missing.attr }}").find("'missing' is undefined"), std::string::npos);
  EXPECT_NE(error_of("{{ missing() }}").find("'missing' is undefined"), std::string::npos);
  EXPECT_NE(error_of("{{ missing + 1 }}").find("'missing' is undefined"), std::string::npos);
  EXPECT_NE(error_of("{{ d.b.c }}", ctx).find("'dict object' has no attribute 'b'"), std::string::npos);
}

TEST(TemplateLimits, EachLimitIsANamedError) {
  RenderOptions o;
  o.limits.max_output_bytes = 1 << 20;
  EXPECT_NE(error_of("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}")
                .find("recursion deeper than max_recursion_depth (100)"),
            std::string::npos);
  EXPECT_NE(error_of("{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}")
                .find("more than max_iterations (1000000)"),
            std::string::npos);
  EXPECT_NE(error_of("{% for i in range(10000) %}{{ 'x' * 1000 }}{% endfor %}", Json::object(), o)
                .find("output longer than max_output_bytes (1048576)"),
            std::string::npos);
  // Intermediate strings are bounded before they are built.
  EXPECT_NE(error_of("{% set s = 'x' * 100000000 %}", Json::object(), o).find("max_output_bytes"),
            std::string::npos);
  EXPECT_NE(error_of("{% set ns = namespace(v=[]) %}{% for i in range(1000) %}{% set ns.v = [ns.v] %}{% endfor %}")
                .find("value nested deeper than 256 levels"),
            std::string::npos);
  EXPECT_NE(error_of("{{ range(100001)|length }}").find("MAX_RANGE (100000)"), std::string::npos);
  EXPECT_NE(error_of("{{ 2 ** 63 }}").find("integer overflow"), std::string::npos);
  Json deep = Json::array();
  for (int i = 0; i < 300; ++i) deep = Json::array({deep});
  EXPECT_NE(error_of("{{ x }}", {{"x", deep}}).find("input JSON nested deeper than 256 levels"),
            std::string::npos);
  // A namespace that holds itself renders, and is released (LeakSanitizer checks in the fuzzer).
  EXPECT_EQ(render("{% set ns = namespace() %}{% set ns.me = ns %}{{ ns.me.me is defined }}"), "True");
}

TEST(TemplateClock, StrftimeNowFormatsTheInjectedClockInLocalTime) {
  setenv("TZ", "UTC", 1);
  tzset();
  RenderOptions o;
  o.clock = [] { return std::chrono::system_clock::from_time_t(1735689599) + std::chrono::microseconds(42); };
  EXPECT_EQ(render("{{ strftime_now('%d %b %Y %H:%M:%S.%f') }}|{{ strftime_now('%z%Z') }}", Json::object(), o),
            "31 Dec 2024 23:59:59.000042|");
  setenv("TZ", "Asia/Shanghai", 1);
  tzset();
  EXPECT_EQ(render("{{ strftime_now('%Y-%m-%d %H') }}", Json::object(), o), "2025-01-01 07");
  setenv("TZ", "UTC", 1);
  tzset();
}

TEST(TemplateCacheTest, ReusesCompiledTemplatesAndEvictsTheLeastRecentlyUsed) {
  TemplateCache cache(2);
  auto a = cache.get("{{ 1 }}", "a");
  EXPECT_EQ(cache.get("{{ 1 }}", "a").get(), a.get());
  auto b = cache.get("{{ 2 }}", "b");
  cache.get("{{ 1 }}", "a");  // a is now more recent than b
  cache.get("{{ 3 }}", "c");  // evicts b
  EXPECT_EQ(cache.size(), 2u);
  EXPECT_EQ(cache.get("{{ 1 }}", "a").get(), a.get());
  EXPECT_NE(cache.get("{{ 2 }}", "b").get(), b.get());
  EXPECT_THROW(cache.get("{% if %}", "bad"), yz::Error);
}

TEST(TemplateThreads, OneCompiledTemplateRendersConcurrently) {
  auto chat = ChatTemplate::from_model_dir(kTemplates / "qwen3");
  ASSERT_TRUE(chat);
  const Json messages = Json::parse(R"([{"role": "user", "content": "Q"},
    {"role": "assistant", "content": "<think>\nr\n</think>\n\nA"}, {"role": "user", "content": "Q2"}])");
  const std::string want = chat->render(messages, nullptr, true).text;
  std::vector<std::thread> threads;
  std::vector<int> ok(4, 0);
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < 200; ++i) ok[t] += chat->render(messages, nullptr, true).text == want;
    });
  for (auto& th : threads) th.join();
  for (int n : ok) EXPECT_EQ(n, 200);
}

class ChatDirTest : public ::testing::Test {
 protected:
  void write(const std::string& name, const std::string& text) {
    fs::create_directories((dir_.path() / name).parent_path());
    write_file_atomic(dir_.path() / name, text);
  }
  test::TempDir dir_;
  const Json user_ = Json::parse(R"([{"role": "user", "content": "hi"}])");
};

TEST_F(ChatDirTest, FindsTheTemplateWhereTransformersLooks) {
  EXPECT_FALSE(ChatTemplate::from_model_dir(dir_.path()));  // nothing at all
  write("tokenizer_config.json", R"({"eos_token": "</s>", "bos_token": {"content": "<s>", "lstrip": false}})");
  EXPECT_FALSE(ChatTemplate::from_model_dir(dir_.path()));  // a config without chat_template
  write("tokenizer_config.json", R"({"eos_token": "</s>", "bos_token": {"content": "<s>"},
                                     "chat_template": "cfg {{ bos_token }}{{ eos_token }}"})");
  EXPECT_EQ(ChatTemplate::from_model_dir(dir_.path())->render(user_).text, "cfg <s></s>");
  write("chat_template.jinja", "file {{ messages[0].content }}");  // the file wins
  auto chat = ChatTemplate::from_model_dir(dir_.path());
  EXPECT_EQ(chat->render(user_).text, "file hi");
  EXPECT_EQ(chat->name(), (dir_.path() / "chat_template.jinja").string());
  write("additional_chat_templates/rag.jinja", "rag {{ messages|length }}");
  EXPECT_EQ(ChatTemplate::from_model_dir(dir_.path())->render(user_, nullptr, false, Json::object(), "rag").text,
            "rag 1");
}

TEST_F(ChatDirTest, NamedTemplatesFollowGetChatTemplate) {
  write("tokenizer_config.json", R"({"chat_template": [{"name": "default", "template": "D"},
                                                      {"name": "tool_use", "template": "T{{ tools|length }}"}]})");
  auto chat = ChatTemplate::from_model_dir(dir_.path());
  ASSERT_TRUE(chat);
  EXPECT_EQ(chat->render(user_).text, "D");
  EXPECT_EQ(chat->render(user_, Json::array({Json::object()})).text, "T1");  // tools -> tool_use
  EXPECT_EQ(chat->render(user_, Json::array(), false, Json::object(), "default").text, "D");
  EXPECT_THROW(chat->render(user_, nullptr, false, Json::object(), "nope"), yz::Error);
}

TEST_F(ChatDirTest, BadFilesAndArgumentsAreErrorsNamingThem) {
  write("tokenizer_config.json", R"({"chat_template": 42})");
  try {
    ChatTemplate::from_model_dir(dir_.path());
    FAIL();
  } catch (const yz::Error& e) {
    EXPECT_NE(std::string(e.what()).find("tokenizer_config.json: \"chat_template\" must be a string"), std::string::npos) << e.what();
  }
  write("tokenizer_config.json", R"({"chat_template": "{% for %}"})");
  try {
    ChatTemplate::from_model_dir(dir_.path());
    FAIL();
  } catch (const yz::Error& e) {
    EXPECT_NE(std::string(e.what()).find("tokenizer_config.json chat_template: line 1"), std::string::npos) << e.what();
  }
  auto chat = ChatTemplate::chatml(Json::object());
  EXPECT_THROW(chat.render(Json::object()), yz::Error);                   // messages not a list
  EXPECT_THROW(chat.render(user_, Json::object()), yz::Error);            // tools not a list
  EXPECT_THROW(chat.render(user_, nullptr, false, {{"messages", 1}}), yz::Error);  // shadowing
  EXPECT_THROW(ChatTemplate::from_file(dir_.path() / "none.jinja", Json::object()), yz::Error);
}

TEST(ChatTemplateTest, KwargsAndSpecialTokensReachTheTemplate) {
  auto chat = ChatTemplate::from_string("{{ bos_token }}|{{ flag }}|{{ additional_special_tokens|length }}",
                                        "k", {{"bos_token", "<s>"}, {"additional_special_tokens", {"<a>", "<b>"}}});
  EXPECT_EQ(chat.render(Json::array(), nullptr, false, {{"flag", true}}).text, "<s>|True|2");
  EXPECT_EQ(chat.render(Json::array(), nullptr, false, {{"bos_token", "<B>"}}).text, "<B>||2");
}

TEST(ChatTemplateTest, AssistantSuffixIsTheEndOfTurnMarker) {
  auto suffix = [](const std::string& name) {
    return ChatTemplate::from_model_dir(kTemplates / name)->assistant_suffix();
  };
  EXPECT_EQ(suffix("qwen3"), "<|im_end|>");
  EXPECT_EQ(suffix("qwen2.5"), "<|im_end|>");
  EXPECT_EQ(suffix("llama3"), "<|eot_id|>");
  EXPECT_EQ(suffix("llama3.1"), "<|eot_id|>");
  EXPECT_EQ(suffix("mistral_v0.3"), "</s>");
  EXPECT_EQ(suffix("deepseek_v3"), "<｜end▁of▁sentence｜>");
  EXPECT_EQ(ChatTemplate::chatml(Json::object()).assistant_suffix(), "<|im_end|>");
  EXPECT_EQ(ChatTemplate::from_string("{{ raise_exception('no') }}", "r", Json::object()).assistant_suffix(), "");
}

TEST(ChatTemplateTest, BundledModelUsesItsOwnChatmlTemplate) {
  auto chat = ChatTemplate::from_model_dir(test::source_dir() / "models" / "yz-qwen2-gqa-16m");
  ASSERT_TRUE(chat);
  EXPECT_EQ(chat->render(Json::parse(R"([{"role": "user", "content": "What is EBITDA?"}])"), nullptr, true).text,
            "<|im_start|>user\nWhat is EBITDA?<|im_end|>\n<|im_start|>assistant\n");
  EXPECT_EQ(chat->special_tokens(), Json({{"eos_token", "<|endoftext|>"}, {"pad_token", "<|endoftext|>"}}));
}

TEST(ChatTemplateTest, GenerationSpansCoverTheAssistantTokens) {
  auto chat = ChatTemplate::from_model_dir(kTemplates / "qwen2.5_generation");
  const Json messages = Json::parse(R"([{"role": "user", "content": "Q"}, {"role": "assistant", "content": "Réponse"},
                                        {"role": "user", "content": "Q2"}, {"role": "assistant", "content": "A2"}])");
  RenderResult r = chat->render(messages);
  ASSERT_EQ(r.generation_spans.size(), 2u);
  auto span = [&](size_t i) {
    return r.text.substr(r.generation_spans[i].begin, r.generation_spans[i].end - r.generation_spans[i].begin);
  };
  EXPECT_EQ(span(0), "Réponse<|im_end|>");
  EXPECT_EQ(span(1), "A2<|im_end|>");
}

}  // namespace
}  // namespace yz::tmpl
