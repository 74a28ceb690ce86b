// Chat-template rendering speed: the Qwen3 template (tests/data/templates/qwen3) on a 10-turn
// conversation (system, then 10 user/assistant pairs with <think> reasoning), compiled once
// and rendered repeatedly, against python3-jinja2 in transformers' environment on the same
// machine in the same run (bench/chat_template_jinja2.py). Both outputs must be identical.
// Prints both figures and the ratio; writes them as JSON for the README table.
//
//   build/bench_chat_template [TEMPLATE_DIR] [OUT.json]
#include <chrono>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <limits>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "template/chat_template.h"
#include "util/error.h"
#include "util/fs.h"

namespace {

using yz::tmpl::Json;

Json conversation() {
  Json messages = Json::array({{{"role", "system"}, {"content", "You are a careful financial analyst."}}});
  for (int i = 0; i < 10; ++i) {
    messages.push_back({{"role", "user"},
                        {"content", "Question " + std::to_string(i) +
                                        ": how did revenue and operating margin change in fiscal 2023?"}});
    messages.push_back({{"role", "assistant"},
                        {"content", "<think>\nCompare segment " + std::to_string(i) +
                                        " with the prior year.\n</think>\n\nRevenue grew " +
                                        std::to_string(3 + i) + "% and the margin widened by 40 bp."}});
  }
  return {{"messages", messages}};
}

// Best of `reps` timings of fn(), each repeated for at least min_seconds; microseconds per call.
template <typename F>
double best_us(F fn, int reps, double min_seconds = 0.5) {
  double best = std::numeric_limits<double>::infinity();
  for (int r = 0; r < reps; ++r) {
    auto t0 = std::chrono::steady_clock::now();
    int64_t n = 0;
    double dt;
    do {
      fn();
      ++n;
      dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    } while (dt < min_seconds);
    best = std::min(best, dt / static_cast<double>(n) * 1e6);
  }
  return best;
}

std::string cpu_model() {
  std::ifstream f("/proc/cpuinfo");
  for (std::string line; std::getline(f, line);)
    if (line.rfind("model name", 0) == 0) return line.substr(line.find(':') + 2);
  return "unknown";
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const yz::fs::path dir = argc > 1 ? argv[1] : yz::fs::path(YZ_SOURCE_DIR) / "tests/data/templates/qwen3";
    const Json conv = conversation();
    auto chat = yz::tmpl::ChatTemplate::from_model_dir(dir);
    YZ_CHECK(chat, dir.string(), ": no chat template");
    const std::string output = chat->render(conv["messages"], nullptr, true).text;
    const double render_us = best_us([&] { chat->render(conv["messages"], nullptr, true); }, 5);
    const std::string source = yz::read_text_file(dir / "tokenizer_config.json");
    const std::string text = Json::parse(source)["chat_template"].get<std::string>();
    const double compile_us = best_us([&] { yz::tmpl::Template::compile(text, "qwen3"); }, 3);

    const std::string conv_path = (yz::fs::temp_directory_path() / "yz_bench_chat_conversation.json").string();
    yz::write_file_atomic(conv_path, conv.dump());
    const std::string cmd = "/usr/bin/python3 " + std::string(YZ_SOURCE_DIR) +
                            "/bench/chat_template_jinja2.py " + dir.string() + " " + conv_path;
    std::unique_ptr<FILE, int (*)(FILE*)> pipe(popen(cmd.c_str(), "r"), pclose);
    YZ_CHECK(pipe, "cannot run ", cmd);
    std::string py_out;
    char buf[4096];
    while (size_t n = fread(buf, 1, sizeof buf, pipe.get())) py_out.append(buf, n);
    YZ_CHECK(pclose(pipe.release()) == 0 && !py_out.empty(), "the python3-jinja2 side failed (",
             cmd, "); Debian's python3-jinja2 is needed: apt-get install python3-jinja2");
    const Json py = Json::parse(py_out);
    const bool same = py["output"].get<std::string>() == output;

    std::printf("chat template render, %s, 10-turn conversation (%zu bytes of prompt), cached compile\n",
                dir.filename().c_str(), output.size());
    std::printf("  youzhi          %9.1f us/render   %9.1f us/compile\n", render_us, compile_us);
    std::printf("  python3-jinja2  %9.1f us/render   %9.1f us/compile   (jinja2 %s, python %s)\n",
                py["render_us"].get<double>(), py["compile_us"].get<double>(),
                py["jinja2"].get<std::string>().c_str(), py["python"].get<std::string>().c_str());
    std::printf("  speedup         %9.1fx render     %9.1fx compile    same output: %s\n",
                py["render_us"].get<double>() / render_us, py["compile_us"].get<double>() / compile_us,
                same ? "yes" : "NO");
    if (argc > 2) {
      char date[16];
      const std::time_t now = std::time(nullptr);
      std::strftime(date, sizeof date, "%Y-%m-%d", std::gmtime(&now));
      nlohmann::ordered_json j = {
          {"benchmark", "chat template render: Qwen3 template, system + 10 user/assistant turns, "
                        "add_generation_prompt, compiled once"},
          {"date", date},
          {"machine", cpu_model()},
          {"template", dir.filename().string()},
          {"prompt_bytes", output.size()},
          {"youzhi_render_us", render_us},
          {"jinja2_render_us", py["render_us"]},
          {"render_speedup", py["render_us"].get<double>() / render_us},
          {"youzhi_compile_us", compile_us},
          {"jinja2_compile_us", py["compile_us"]},
          {"compile_speedup", py["compile_us"].get<double>() / compile_us},
          {"jinja2_version", py["jinja2"]},
          {"python", py["python"]},
          {"same_output", same}};
      yz::write_file_atomic(argv[2], j.dump(2) + "\n");
    }
    return same ? 0 : 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
}
