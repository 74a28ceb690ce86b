// Subcommands of the `youzhi` CLI. Each registers its options on the parent CLI11 app and
// returns the function that runs it; main.cc turns yz::Error into "error: ..." and exit 1.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>

namespace yz::apps {

using Command = std::function<int()>;

// `youzhi --version` and the server's /version.
constexpr const char* kVersion = "0.1";

Command add_info(CLI::App& app);
Command add_tokenize(CLI::App& app);
Command add_detokenize(CLI::App& app);
Command add_import_llama2c(CLI::App& app);
Command add_ppl(CLI::App& app);
Command add_generate(CLI::App& app);
Command add_chat_template(CLI::App& app);
Command add_logits(CLI::App& app);
Command add_convert(CLI::App& app);
Command add_demo(CLI::App& app);
Command add_bench(CLI::App& app);
Command add_train(CLI::App& app);
Command add_bench_throughput(CLI::App& bench);  // a subcommand of `bench`
Command add_eval(CLI::App& app);
Command add_data(CLI::App& app);
Command add_pipeline(CLI::App& app);
Command add_bench_serve(CLI::App& bench);       // a subcommand of `bench`
Command add_serve(CLI::App& app);

}  // namespace yz::apps
