// `youzhi eval`: financial and general benchmarks on one model by log-likelihood
// (lm-evaluation-harness semantics) and/or by generation (FinBen / FinLoRA semantics), one
// results JSON and a table; `youzhi eval --compare A.json B.json ...` puts runs side by side.
#include <chrono>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <nlohmann/json.hpp>

#include "apps/commands.h"
#include "apps/model_opts.h"
#include "eval/harness.h"
#include "eval/report.h"
#include "eval/tasks.h"
#include "util/error.h"
#include "util/fs.h"

namespace yz::apps {

namespace {

std::string cpu_name() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("model name", 0) == 0 && line.find(':') != std::string::npos)
      return line.substr(line.find(':') + 2);
  return "unknown CPU";
}

// The last path component, also for "models/x/".
std::string base_name(const std::string& path) {
  fs::path p(path);
  while (p.has_parent_path() && p.filename().empty()) p = p.parent_path();
  return p.filename().string();
}

std::string utc_date() {
  const std::time_t now = std::time(nullptr);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%d", std::gmtime(&now));
  return buf;
}

}  // namespace

Command add_eval(CLI::App& app) {
  struct Opts {
    ModelOpts m;
    std::vector<std::string> tasks, task_files, compare;
    std::string suite, protocol = "loglik", out, data_dir;
    EvalOptions eval;
    int64_t show_prompt = -1;
    bool json = false, markdown = false, overwrite = false;
  };
  auto o = std::make_shared<Opts>();
  o->m.add(app, /*required=*/false);
  std::string known;
  for (const auto& t : task_catalog()) known += "\n  " + t.name + " (" + t.suite + "): " + t.what;
  app.add_option("--tasks", o->tasks, "Comma-separated tasks:" + known)->delimiter(',');
  app.add_option("--suite", o->suite, "fin, general or all");
  app.add_option("--task-file", o->task_files,
                 "User task: JSONL rows with context, choices + gold (or target)");
  app.add_option("--protocol", o->protocol, "loglik, generate or both")
      ->check(CLI::IsMember({"loglik", "generate", "both"}));
  app.add_option("--shots", o->eval.shots, "Few-shot examples from the task's train/dev split");
  app.add_option("--seed", o->eval.seed, "Few-shot sampling seed (lm-eval's default 1234)");
  app.add_option("--limit", o->eval.limit,
                 "Score the first N documents per task (perplexity: N windows at most)");
  app.add_option("--batch", o->eval.batch, "Documents per forward");
  app.add_option("--max-length", o->eval.max_length,
                 "Model window in tokens (default: max_position_embeddings); longer prompts lose "
                 "tokens from the left");
  app.add_option("--max-new-tokens", o->eval.max_new_tokens,
                 "Generation limit (default: 10 for label answers, 50 for text answers)");
  app.add_option("--data-dir", o->data_dir, "Shared data folder (default ../shared/data)");
  app.add_option("--out", o->out, "Write the results JSON here");
  app.add_flag("--overwrite", o->overwrite, "Replace an existing --out file");
  app.add_option("--show-prompt", o->show_prompt,
                 "Print document N's prompt (with its shots) of each task and exit");
  app.add_option("--compare", o->compare, "Result files to show side by side (no MODEL)")
      ->expected(1, -1);
  app.add_flag("--markdown", o->markdown, "Print the table as markdown");
  app.add_flag("--json", o->json, "Print one JSON object");
  return [o]() {
    if (!o->compare.empty()) {
      YZ_CHECK(o->m.model.empty() && o->tasks.empty() && o->suite.empty() && o->task_files.empty(),
               "--compare takes result files only (no MODEL, --tasks, --suite or --task-file)");
      std::vector<std::pair<std::string, nlohmann::ordered_json>> runs;
      for (const auto& f : o->compare) {
        YZ_CHECK(fs::is_regular_file(f), f, ": no such results file");
        try {  // ordered: tasks keep the order they ran in
          runs.emplace_back(fs::path(f).stem().string(),
                            nlohmann::ordered_json::parse(read_text_file(f)));
        } catch (const nlohmann::json::exception& e) {
          YZ_CHECK(false, f, ": not valid JSON (", e.what(), ")");
        }
        YZ_CHECK(runs.back().second.contains("tasks"), f,
                 ": not a youzhi eval results file (no 'tasks')");
      }
      if (o->json) {
        nlohmann::ordered_json rows = nlohmann::ordered_json::array();
        for (const TableRow& r : compare_rows(runs))
          rows.push_back({{"task", r.task},
                          {"metric", r.metric},
                          {"majority", r.baseline},
                          {"values", r.values}});
        std::vector<std::string> names;
        for (const auto& run : runs) names.push_back(run.first);
        std::printf("%s\n", nlohmann::ordered_json{{"runs", names}, {"rows", rows}}.dump().c_str());
      } else {
        std::fputs(render_table(runs, o->markdown).c_str(), stdout);
      }
      return 0;
    }
    if (o->tasks.empty() && o->suite.empty() && o->task_files.empty())
      YZ_THROW(ErrorKind::kUsage, "give --tasks, --suite or --task-file (or --compare A.json ...)");
    const std::vector<std::string> names = resolve_task_names(o->tasks, o->suite);
    const fs::path data_dir = data_dir_or_default(o->data_dir);
    std::vector<Task> tasks;
    for (const auto& n : names) tasks.push_back(load_task(n, data_dir, o->eval.shots > 0));
    for (const auto& f : o->task_files) tasks.push_back(load_task_file(f));
    if (o->show_prompt >= 0) {
      for (const Task& t : tasks) {
        if (t.kind == TaskKind::kPerplexity) continue;
        std::printf("== %s, document %lld, %lld shots, seed %llu\n%s\n", t.name.c_str(),
                    static_cast<long long>(o->show_prompt), static_cast<long long>(o->eval.shots),
                    static_cast<unsigned long long>(o->eval.seed),
                    task_prompt(t, o->show_prompt, o->eval.shots, o->eval.seed).c_str());
      }
      return 0;
    }
    if (o->m.model.empty()) YZ_THROW(ErrorKind::kUsage, "MODEL is required");
    YZ_CHECK(o->eval.batch >= 1 && o->eval.limit >= 0 && o->eval.shots >= 0 &&
                 o->eval.max_length >= 0 && o->eval.max_new_tokens >= 0,
             "--batch must be >= 1; --limit, --shots, --max-length and --max-new-tokens >= 0");
    YZ_CHECK(o->out.empty() || o->overwrite || !fs::exists(o->out), "output ", o->out,
             " already exists; pass --overwrite to replace it");
    o->eval.loglik = o->protocol != "generate";
    o->eval.generate = o->protocol != "loglik";
    const auto t0 = std::chrono::steady_clock::now();
    tok::Tokenizer tk = tok::Tokenizer::from_file(o->m.model);
    CausalLm lm = o->m.load();
    o->eval.stop_ids = stop_ids(lm, o->m.model, tk, /*chat=*/nullptr);
    nlohmann::ordered_json result;
    result["model"] = o->m.model;
    result["family"] = family_name(lm->config.family);
    result["kv_bytes_per_token_bf16"] = lm->config.kv_bytes_per_token_bf16();
    result["protocol"] = o->protocol;
    result["shots"] = o->eval.shots;
    result["seed"] = o->eval.seed;
    result["limit"] = o->eval.limit;
    result["max_length"] =
        o->eval.max_length > 0 ? o->eval.max_length : lm->config.max_position_embeddings;
    result["device"] = o->m.device;
    result["dtype"] =
        o->m.dtype.empty() ? (o->m.device == "cpu" ? "float32" : "bfloat16") : o->m.dtype;
    result["host"] = cpu_name() + ", " + std::to_string(torch::get_num_threads()) + " threads";
    result["date"] = utc_date();
    result["tasks"] = nlohmann::ordered_json::object();
    for (const Task& t : tasks) {
      std::fprintf(stderr, "== %s (%zu documents)\n", t.name.c_str(), t.docs.size());
      result["tasks"][t.name] = evaluate_task(lm, tk, t, o->eval);
      if (result["tasks"][t.name].contains("shots_note"))
        std::fprintf(stderr, "note: %s: %s\n", t.name.c_str(),
                     result["tasks"][t.name]["shots_note"].get<std::string>().c_str());
    }
    result["wall_s"] = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (!o->out.empty()) write_file_atomic(o->out, result.dump(1) + "\n");
    if (o->json) {
      std::printf("%s\n", result.dump().c_str());
    } else {
      std::fputs(render_table({{base_name(o->m.model), result}}, o->markdown).c_str(), stdout);
    }
    return 0;
  };
}

}  // namespace yz::apps
