// The engine feature by feature against python3-jinja2: every snippet of
// goldens/engine.json (whitespace control, literals, operators, tests, filters, methods,
// loops, scoping, macros, Markup, sandbox refusals, errors), rendered over one shared context
// by tools/make_chat_template_goldens.py in transformers' environment.
#include <gtest/gtest.h>

#include <cstdlib>
#include <ctime>

#include "template/template.h"
#include "test_util.h"
#include "util/fs.h"

namespace yz::tmpl {
namespace {

TEST(EngineTest, MatchesJinja2OnEveryFeatureSnippet) {
  const Json golden = Json::parse(read_text_file(test::data_dir() / "templates" / "goldens" / "engine.json"));
  setenv("TZ", "UTC", 1);
  tzset();
  RenderOptions options;
  options.clock = [] {
    return std::chrono::system_clock::from_time_t(1721997296) + std::chrono::microseconds(123456);
  };
  size_t rendered = 0, failed = 0;
  for (const Json& c : golden["cases"]) {
    const std::string src = c["template"].get<std::string>();
    std::string text, error;
    bool raised = false;
    std::string raised_message;
    try {
      text = Template::compile(src, "snippet")->render(golden["context"], options).text;
    } catch (const RaiseError& e) {
      raised = true;
      raised_message = e.message();
    } catch (const yz::Error& e) {
      error = e.what();
    }
    if (c.contains("output")) {
      EXPECT_TRUE(error.empty() && !raised) << src << "\n  error: " << error << raised_message;
      EXPECT_EQ(text, c["output"].get<std::string>()) << src;
      ++rendered;
    } else if (c.contains("raise_exception")) {
      EXPECT_TRUE(raised) << src;
      EXPECT_EQ(raised_message, c["raise_exception"].get<std::string>()) << src;
    } else {
      EXPECT_FALSE(error.empty() && !raised) << src << "\n  rendered " << text << " but Jinja: "
                                             << c["error"];
      // Undefined and sandbox errors carry Jinja's own wording.
      const std::string type = c.value("error_type", "");
      if (type == "UndefinedError" || type == "SecurityError") {
        const std::string jinja = c["error"].get<std::string>().substr(type.size() + 2);
        EXPECT_NE(error.find(jinja), std::string::npos) << src << "\n  ours: " << error
                                                        << "\n  jinja: " << jinja;
      }
      ++failed;
    }
  }
  EXPECT_GE(rendered, 120u);
  EXPECT_GE(failed, 25u);
}

}  // namespace
}  // namespace yz::tmpl
