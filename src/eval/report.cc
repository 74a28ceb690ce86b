// Side-by-side result tables (see report.h).
#include "eval/report.h"

#include <algorithm>
#include <cstdio>

namespace yz {

namespace {

enum class Fmt { kPercent, kFixed2, kFixed3, kCount };

struct MetricSpec {
  const char* protocol;  // "loglik", "generate", "perplexity", or "" for the task block itself
  const char* key;
  const char* label;
  Fmt fmt;
  const char* baseline;  // key in the task's "majority" block, or ""
};

const std::vector<MetricSpec> kMetrics = {
    {"loglik", "acc", "loglik acc", Fmt::kPercent, "acc"},
    {"loglik", "acc_norm", "loglik acc_norm", Fmt::kPercent, "acc"},
    {"loglik", "macro_f1", "loglik macro-F1", Fmt::kPercent, "macro_f1"},
    {"loglik", "target_ppl", "loglik target ppl", Fmt::kFixed2, ""},
    {"loglik", "bits_per_byte", "loglik bits/byte", Fmt::kFixed3, ""},
    {"loglik", "greedy_match", "loglik greedy match", Fmt::kPercent, ""},
    {"loglik", "truncated_docs", "loglik truncated docs", Fmt::kCount, ""},
    {"generate", "acc", "gen acc", Fmt::kPercent, "acc"},
    {"generate", "macro_f1", "gen macro-F1", Fmt::kPercent, "macro_f1"},
    {"generate", "missing", "gen missing", Fmt::kPercent, ""},
    {"generate", "rouge_l", "gen ROUGE-L", Fmt::kPercent, ""},
    {"generate", "exact_match", "gen exact match", Fmt::kPercent, ""},
    {"generate", "truncated_docs", "gen truncated docs", Fmt::kCount, ""},
    {"perplexity", "ppl", "perplexity", Fmt::kFixed2, ""},
    {"", "wall_s", "wall s", Fmt::kFixed2, ""},
};

std::string format(const nlohmann::ordered_json& v, Fmt fmt) {
  char buf[32];
  const double x = v.get<double>();
  switch (fmt) {
    case Fmt::kPercent:
      std::snprintf(buf, sizeof(buf), "%.1f", 100 * x);
      break;
    case Fmt::kFixed2:
      std::snprintf(buf, sizeof(buf), "%.2f", x);
      break;
    case Fmt::kFixed3:
      std::snprintf(buf, sizeof(buf), "%.3f", x);
      break;
    case Fmt::kCount:
      std::snprintf(buf, sizeof(buf), "%lld", static_cast<long long>(x));
      break;
  }
  return buf;
}

const nlohmann::ordered_json* metric(const nlohmann::ordered_json& task, const MetricSpec& m) {
  const nlohmann::ordered_json* block = &task;
  if (*m.protocol) {
    if (!task.contains(m.protocol)) return nullptr;
    block = &task[m.protocol];
  }
  if (!block->contains(m.key) || !(*block)[m.key].is_number()) return nullptr;
  return &(*block)[m.key];
}

}  // namespace

std::vector<TableRow> compare_rows(
    const std::vector<std::pair<std::string, nlohmann::ordered_json>>& runs) {
  std::vector<std::string> tasks;  // first-seen order
  for (const auto& [name, run] : runs)
    if (run.contains("tasks"))
      for (auto it = run["tasks"].begin(); it != run["tasks"].end(); ++it)
        if (std::find(tasks.begin(), tasks.end(), it.key()) == tasks.end())
          tasks.push_back(it.key());
  std::vector<TableRow> rows;
  for (const auto& task : tasks) {
    for (const MetricSpec& m : kMetrics) {
      TableRow row;
      row.task = task;
      row.metric = m.label;
      bool any = false, nonzero = m.fmt != Fmt::kCount;
      for (const auto& [name, run] : runs) {
        const nlohmann::ordered_json* t =
            run.contains("tasks") && run["tasks"].contains(task) ? &run["tasks"][task] : nullptr;
        const nlohmann::ordered_json* v = t ? metric(*t, m) : nullptr;
        row.values.push_back(v ? format(*v, m.fmt) : "");
        any = any || v;
        nonzero = nonzero || (v && v->get<double>() != 0);
        if (row.baseline.empty() && *m.baseline && t && t->contains("majority") &&
            (*t)["majority"].contains(m.baseline) && v)
          row.baseline = format((*t)["majority"][m.baseline], Fmt::kPercent) + " (" +
                         (*t)["majority"]["label"].get<std::string>() + ")";
      }
      if (any && nonzero) rows.push_back(std::move(row));
    }
  }
  TableRow total{"all", "total wall s", "", {}};
  for (const auto& [name, run] : runs)
    total.values.push_back(run.contains("wall_s") ? format(run["wall_s"], Fmt::kFixed2) : "");
  rows.push_back(std::move(total));
  return rows;
}

std::string render_table(const std::vector<std::pair<std::string, nlohmann::ordered_json>>& runs,
                         bool markdown) {
  std::vector<std::string> header = {"task", "metric", "majority"};
  for (const auto& [name, run] : runs) header.push_back(name);
  std::vector<std::vector<std::string>> cells = {header};
  for (const TableRow& r : compare_rows(runs)) {
    std::vector<std::string> line = {r.task, r.metric, r.baseline};
    line.insert(line.end(), r.values.begin(), r.values.end());
    cells.push_back(std::move(line));
  }
  std::string out;
  if (markdown) {
    for (size_t i = 0; i < cells.size(); ++i) {
      out += "|";
      for (const auto& c : cells[i]) out += " " + c + " |";
      out += "\n";
      if (i == 0) {
        out += "|";
        for (size_t c = 0; c < cells[0].size(); ++c) out += c < 2 ? "---|" : "---:|";
        out += "\n";
      }
    }
    return out;
  }
  // Aligned text: widths in characters (labels may hold CJK; counted as one column each).
  auto width = [](const std::string& s) {
    size_t n = 0;
    for (unsigned char c : s) n += (c & 0xC0) != 0x80;
    return n;
  };
  std::vector<size_t> w(header.size(), 0);
  for (const auto& line : cells)
    for (size_t c = 0; c < line.size(); ++c) w[c] = std::max(w[c], width(line[c]));
  for (const auto& line : cells) {
    for (size_t c = 0; c < line.size(); ++c) {
      const std::string pad(w[c] - width(line[c]), ' ');
      out += c < 2 ? line[c] + pad : pad + line[c];
      out += c + 1 < line.size() ? "  " : "\n";
    }
  }
  return out;
}

}  // namespace yz
