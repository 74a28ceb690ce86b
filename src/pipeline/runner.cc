// Stage execution, stage.json bookkeeping and resume (see runner.h).
#include "pipeline/runner.h"

#include <fcntl.h>
#include <lzma.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <cstdio>
#include <fstream>

#include "pipeline/table.h"
#include "util/error.h"

extern char** environ;

namespace yz::pipeline {

namespace {

// JSON files keep their key order (eval results: tasks in the order they ran).
Json read_ordered(const fs::path& path) {
  Json j = Json::parse(read_text_file(path), nullptr, /*allow_exceptions=*/false);
  YZ_CHECK(!j.is_discarded(), path.string(), ": not valid JSON");
  return j;
}

std::string hex64(uint64_t v) {
  char buf[17];
  std::snprintf(buf, sizeof(buf), "%016llx", static_cast<unsigned long long>(v));
  return buf;
}

uint64_t crc_of(const std::string& s, uint64_t crc) {
  return lzma_crc64(reinterpret_cast<const uint8_t*>(s.data()), s.size(), crc);
}

// The last `n` lines of a log, for the error of a failed stage.
std::string tail_lines(const fs::path& log, int n) {
  const std::string text = fs::exists(log) ? read_text_file(log) : "";
  size_t pos = text.size();
  for (int i = 0; i <= n && pos != std::string::npos && pos > 0; ++i) pos = text.rfind('\n', pos - 1);
  return text.substr(pos == std::string::npos ? 0 : pos + 1);
}

// Runs exe with `args`, stdout to `out_file`, stderr to `log`; returns the exit status.
int run_child(const fs::path& exe, const std::vector<std::string>& args, const fs::path& out_file,
              const fs::path& log) {
  std::vector<std::string> all = {exe.string()};
  all.insert(all.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : all) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, out_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_addopen(&fa, 2, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  pid_t pid = 0;
  const int rc = posix_spawn(&pid, exe.c_str(), &fa, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  YZ_CHECK(rc == 0, "cannot start ", exe.string(), " (", std::strerror(rc), ")");
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

std::string join_args(const std::vector<std::string>& args) {
  std::string s;
  for (const auto& a : args) s += (s.empty() ? "" : " ") + a;
  return s;
}

// What differs between the recorded and the current inputs of a stage, for the re-run message.
std::string what_changed(const Json& old, const Json& now) {
  std::vector<std::string> changed;
  if (old.value("argv", Json()) != now["argv"]) changed.push_back("its settings");
  const Json& a = old.contains("inputs") ? old["inputs"] : Json::object();
  for (auto it = now["inputs"].begin(); it != now["inputs"].end(); ++it)
    if (!a.contains(it.key()) || a[it.key()] != it.value()) changed.push_back(it.key());
  std::string s;
  for (const auto& c : changed) s += (s.empty() ? "" : ", ") + c;
  return s.empty() ? "an unfinished run with other inputs" : s;
}

void log_line(const RunOptions& o, const std::string& line) {
  if (o.quiet) return;
  std::fprintf(stderr, "%s\n", line.c_str());
  std::fflush(stderr);
}

}  // namespace

std::string input_hash(const fs::path& path) {
  YZ_CHECK(fs::exists(path), path.string(), ": no such input");
  if (!fs::is_directory(path)) return hex64(file_crc64(path));
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(path))
    if (e.is_regular_file()) files.push_back(e.path());
  std::sort(files.begin(), files.end());
  uint64_t crc = 0;
  for (const auto& f : files) crc = crc_of(f.filename().string() + ":" + hex64(file_crc64(f)) + "\n", crc);
  return hex64(crc);
}

Json run_pipeline(const Recipe& recipe, const RunOptions& o) {
  fs::create_directories(o.out);
  std::vector<std::pair<std::string, fs::path>> outputs;
  Json summary = {{"recipe", recipe.path.string()}, {"out", o.out.string()}, {"stages", Json::array()}};
  Json eval_results;
  size_t index = 0;
  for (const Stage& st : recipe.stages) {
    ++index;
    const fs::path dir = o.out / st.name;
    const size_t runs = st.kind == StageKind::kEval ? st.models.size() : 1;
    // The stage's identity: its command lines and the content of everything it reads.
    Json now = {{"stage", st.name}, {"kind", stage_kind_name(st.kind)}, {"argv", Json::array()},
                {"inputs", Json::object()}};
    for (size_t r = 0; r < runs; ++r) now["argv"].push_back(stage_argv(recipe, st, dir, outputs, r));
    std::vector<fs::path> inputs;
    for (const auto& [role, in] : st.inputs) inputs.push_back(resolve_input(recipe, in, outputs));
    for (const auto& [label, in] : st.models) inputs.push_back(resolve_input(recipe, in, outputs));
    for (const auto& p : inputs) now["inputs"][p.string()] = input_hash(p);
    now["key"] = hex64(crc_of(now["argv"].dump() + now["inputs"].dump(), 0));

    const fs::path state_file = dir / "stage.json";
    const Json old = fs::is_regular_file(state_file) ? read_ordered(state_file) : Json();
    const std::string head = "== [" + std::to_string(index) + "/" +
                             std::to_string(recipe.stages.size()) + "] " + st.name + " (" +
                             stage_kind_name(st.kind) + ")";
    Json record;
    bool resume = false;
    if (!old.is_null() && old.value("key", "") == now["key"] && old.value("status", "") == "complete") {
      log_line(o, head + ": complete with the same inputs, skipped");
      record = old;
    } else {
      if (!old.is_null() && old.value("key", "") == now["key"]) {
        // Same inputs, unfinished: training continues from its checkpoint, the rest starts over.
        resume = (st.kind == StageKind::kDistill || st.kind == StageKind::kSft) &&
                 fs::is_regular_file(stage_output(st, dir) / "train" / "args.json");
        log_line(o, head + (resume ? ": unfinished, resuming its training" : ": unfinished, re-running"));
      } else if (!old.is_null()) {
        log_line(o, head + ": inputs changed (" + what_changed(old, now) + "), re-running");
      } else {
        log_line(o, head);
      }
      if (!resume) remove_tree(dir);
      fs::create_directories(dir);
      record = now;
      record["status"] = "running";
      write_file_atomic(state_file, record.dump(1) + "\n");
      const auto t0 = std::chrono::steady_clock::now();
      Json results = Json::array();
      for (size_t r = 0; r < runs; ++r) {
        std::vector<std::string> args = now["argv"][r].get<std::vector<std::string>>();
        if (resume) args.push_back("--resume");
        const fs::path log = dir / "log.txt", out = dir / ("stdout" + std::to_string(r) + ".txt");
        log_line(o, "   youzhi " + join_args(args) + "  (log: " + log.string() + ")");
        const int rc = run_child(o.exe, args, out, log);
        YZ_CHECK(rc == 0, "pipeline stage ", st.name, " (recipe ", st.pointer, ") failed with exit ",
                 rc, "; ", log.string(), " ends with:\n", tail_lines(log, 8));
        if (st.kind == StageKind::kEval) {
          results.push_back(read_ordered(dir / ("row" + std::to_string(r) + ".json")));
        } else {
          // --json: the command's summary is its last line.
          const std::string text = read_text_file(out);
          const size_t end = text.find_last_not_of(" \r\n");
          const size_t start = end == std::string::npos ? std::string::npos : text.rfind('\n', end);
          const std::string line =
              end == std::string::npos ? "" : text.substr(start == std::string::npos ? 0 : start + 1, end + 1 - (start == std::string::npos ? 0 : start + 1));
          Json j = Json::parse(line, nullptr, /*allow_exceptions=*/false);
          YZ_CHECK(j.is_object(), "pipeline stage ", st.name, ": no JSON summary at the end of ", out.string());
          results.push_back(std::move(j));
        }
      }
      record["results"] = st.kind == StageKind::kEval ? results : results[0];
      record["wall_s"] = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      record["status"] = "complete";
      write_file_atomic(state_file, record.dump(1) + "\n");
    }
    if (st.kind == StageKind::kEval) eval_results = record;
    outputs.emplace_back(st.name, stage_output(st, dir));
    summary["stages"].push_back({{"stage", st.name}, {"kind", stage_kind_name(st.kind)},
                                 {"wall_s", record.value("wall_s", 0.0)}, {"key", record["key"]}});
  }
  if (!eval_results.is_null()) {
    const Stage& ev = *std::find_if(recipe.stages.rbegin(), recipe.stages.rend(),
                                    [](const Stage& s) { return s.kind == StageKind::kEval; });
    const Json table = final_table(recipe, ev, eval_results["results"]);
    write_file_atomic(o.out / "table.json", table.dump(1) + "\n");
    write_file_atomic(o.out / "table.md", table_markdown(table));
    write_file_atomic(o.out / "table.svg", table_svg(table));
    summary["table"] = table;
  }
  return summary;
}

}  // namespace yz::pipeline
