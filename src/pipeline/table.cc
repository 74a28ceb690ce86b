// The pipeline's closing table (see table.h).
#include "pipeline/table.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "util/error.h"

namespace yz::pipeline {

namespace {

const std::vector<std::pair<std::string, std::string>> kFinTasks = {
    {"fpb", "FPB"}, {"fiqa_sa", "FiQA-SA"}, {"tfns", "TFNS"}};
const char* kProtocols[] = {"loglik", "generate"};

Json at(const Json& j, std::initializer_list<const char*> path) {
  const Json* p = &j;
  for (const char* k : path) {
    if (!p->is_object() || !p->contains(k)) return nullptr;
    p = &(*p)[k];
  }
  return *p;
}

std::string fmt(const Json& v, const char* f) {
  if (!v.is_number()) return "–";
  char buf[32];
  std::snprintf(buf, sizeof(buf), f, v.get<double>());
  return buf;
}

std::string pct(const Json& v) { return v.is_number() ? fmt(Json(100 * v.get<double>()), "%.1f") : "–"; }

std::string xml_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '&') out += "&amp;";
    else if (c == '<') out += "&lt;";
    else if (c == '>') out += "&gt;";
    else out += c;
  }
  return out;
}

}  // namespace

Json final_table(const Recipe& recipe, const Stage& eval, const Json& results) {
  YZ_CHECK(results.is_array() && results.size() == eval.models.size(), "pipeline stage ", eval.name,
           ": expected ", eval.models.size(), " eval results");
  size_t original = 0;
  for (size_t i = 0; i < eval.models.size(); ++i)
    if (eval.models[i].second.ref == "model") original = i;
  const Json base_kv = at(results[original], {"kv_bytes_per_token_bf16"});
  Json t = {{"recipe", recipe.name.empty() ? recipe.path.filename().string() : recipe.name},
            {"limit", results[0].value("limit", 0)},
            {"device", results[0].value("device", "")},
            {"host", results[0].value("host", "")},
            {"date", results[0].value("date", "")},
            {"rows", Json::array()}};
  for (size_t i = 0; i < results.size(); ++i) {
    const Json& r = results[i];
    Json row = {{"model", eval.models[i].first}};
    const Json kv = at(r, {"kv_bytes_per_token_bf16"});
    row["kv_elements_per_token"] = kv.is_number() ? Json(kv.get<int64_t>() / 2) : Json();
    row["concurrency_x"] = kv.is_number() && base_kv.is_number()
                               ? Json(base_kv.get<double>() / kv.get<double>()) : Json();
    row["ppl_wikitext"] = at(r, {"tasks", "ppl_wikitext", "perplexity", "ppl"});
    row["ppl_sec"] = at(r, {"tasks", "ppl_sec", "perplexity", "ppl"});
    for (const char* p : kProtocols) {
      double sum = 0;
      int n = 0;
      for (const auto& [task, label] : kFinTasks) {
        const Json acc = at(r, {"tasks", task.c_str(), p, "acc"});
        row["acc"][task][p] = acc;
        if (acc.is_number()) sum += acc.get<double>(), ++n;
      }
      row["mean_fin_acc"][p] = n == static_cast<int>(kFinTasks.size()) ? Json(sum / n) : Json();
    }
    t["rows"].push_back(row);
  }
  Json majority = Json::object();
  double sum = 0;
  int n = 0;
  for (const auto& [task, label] : kFinTasks) {
    const Json m = at(results[original], {"tasks", task.c_str(), "majority", "acc"});
    majority[task] = m;
    if (m.is_number()) sum += m.get<double>(), ++n;
  }
  majority["mean"] = n == static_cast<int>(kFinTasks.size()) ? Json(sum / n) : Json();
  t["majority"] = majority;
  return t;
}

std::string table_markdown(const Json& t) {
  std::string s = "| model | KV elements/token | concurrency × (same KV pool) | ppl wikitext-2 | ppl SEC |";
  for (const auto& [task, label] : kFinTasks) s += " " + label + " |";
  s += " mean fin acc |\n|---|---|---|---|---|---|---|---|---|\n";
  for (const Json& r : t["rows"]) {
    s += "| " + r["model"].get<std::string>() + " | " + fmt(r["kv_elements_per_token"], "%.0f") +
         " | " + fmt(r["concurrency_x"], "%.2f") + " | " + fmt(r["ppl_wikitext"], "%.2f") + " | " +
         fmt(r["ppl_sec"], "%.2f") + " |";
    for (const auto& [task, label] : kFinTasks)
      s += " " + pct(r["acc"][task]["loglik"]) + " / " + pct(r["acc"][task]["generate"]) + " |";
    s += " " + pct(r["mean_fin_acc"]["loglik"]) + " / " + pct(r["mean_fin_acc"]["generate"]) + " |\n";
  }
  s += "| majority class | | | | |";
  for (const auto& [task, label] : kFinTasks) s += " " + pct(t["majority"][task]) + " |";
  s += " " + pct(t["majority"]["mean"]) + " |\n\n";
  s += "Accuracy in % as log-likelihood / generation protocol; concurrency from KV elements per "
       "token at an equal KV pool.";
  if (t.value("limit", 0) > 0)
    s += " Scored on the first " + std::to_string(t["limit"].get<int64_t>()) + " documents of each task.";
  s += " " + t.value("date", "") + ", " + t.value("device", "") + " (" + t.value("host", "") + ").\n";
  return s;
}

namespace {
// Words of `text` in lines of at most `width` bytes (a longer word stands alone).
std::vector<std::string> wrap_words(const std::string& text, size_t width) {
  std::vector<std::string> lines(1);
  size_t i = 0;
  while (i < text.size()) {
    const size_t end = std::min(text.find(' ', i), text.size());
    const std::string word = text.substr(i, end - i);
    if (!lines.back().empty() && lines.back().size() + 1 + word.size() > width) lines.emplace_back();
    lines.back() += (lines.back().empty() ? "" : " ") + word;
    i = end + 1;
  }
  return lines;
}
}  // namespace

std::string table_svg(const Json& t) {
  // Horizontal bars: mean financial accuracy per model, both protocols; majority as a dashed line.
  // The title wraps at about 90 characters of 14 px text, the chart's 700 px.
  const std::vector<std::string> title =
      wrap_words(t.value("recipe", "") + ": mean accuracy on FPB, FiQA-SA, TFNS (%)", 90);
  const int label_w = 220, plot_w = 440, bar_h = 12, gap = 10, line_h = 18;
  const int top = 40 + line_h * (static_cast<int>(title.size()) - 1);
  const int n = static_cast<int>(t["rows"].size());
  const int height = top + n * (2 * bar_h + gap) + 40;
  auto x_of = [&](double acc) { return label_w + static_cast<int>(std::lround(acc * plot_w)); };
  std::string s = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" +
                  std::to_string(label_w + plot_w + 40) + "\" height=\"" + std::to_string(height) +
                  "\" font-family=\"sans-serif\" font-size=\"12\">\n";
  for (size_t i = 0; i < title.size(); ++i)
    s += "<text x=\"10\" y=\"" + std::to_string(20 + line_h * static_cast<int>(i)) + "\" font-size=\"14\">" +
         xml_escape(title[i]) + "</text>\n";
  const char* colors[] = {"#3b6ea8", "#e08a2c"};
  for (int i = 0; i < n; ++i) {
    const Json& r = t["rows"][i];
    const int y = top + i * (2 * bar_h + gap);
    s += "<text x=\"" + std::to_string(label_w - 6) + "\" y=\"" + std::to_string(y + bar_h + 4) +
         "\" text-anchor=\"end\">" + xml_escape(r["model"].get<std::string>()) + "</text>\n";
    for (int p = 0; p < 2; ++p) {
      const Json v = r["mean_fin_acc"][kProtocols[p]];
      if (!v.is_number()) continue;
      const int yy = y + p * bar_h;
      s += "<rect x=\"" + std::to_string(label_w) + "\" y=\"" + std::to_string(yy) + "\" width=\"" +
           std::to_string(x_of(v.get<double>()) - label_w) + "\" height=\"" + std::to_string(bar_h - 1) +
           "\" fill=\"" + colors[p] + "\"/>\n<text x=\"" + std::to_string(x_of(v.get<double>()) + 4) +
           "\" y=\"" + std::to_string(yy + bar_h - 2) + "\" font-size=\"10\">" + pct(v) + "</text>\n";
    }
  }
  if (t["majority"]["mean"].is_number()) {
    const int x = x_of(t["majority"]["mean"].get<double>());
    s += "<line x1=\"" + std::to_string(x) + "\" y1=\"" + std::to_string(top - 6) + "\" x2=\"" +
         std::to_string(x) + "\" y2=\"" + std::to_string(height - 30) +
         "\" stroke=\"#555\" stroke-dasharray=\"4 3\"/>\n";
  }
  const int ly = height - 12;
  s += "<rect x=\"" + std::to_string(label_w) + "\" y=\"" + std::to_string(ly - 9) +
       "\" width=\"10\" height=\"10\" fill=\"" + colors[0] + "\"/><text x=\"" + std::to_string(label_w + 14) +
       "\" y=\"" + std::to_string(ly) + "\">log-likelihood</text>\n<rect x=\"" + std::to_string(label_w + 120) +
       "\" y=\"" + std::to_string(ly - 9) + "\" width=\"10\" height=\"10\" fill=\"" + colors[1] +
       "\"/><text x=\"" + std::to_string(label_w + 134) + "\" y=\"" + std::to_string(ly) +
       "\">generation</text>\n<text x=\"" + std::to_string(label_w + 240) + "\" y=\"" + std::to_string(ly) +
       "\">dashed: majority class</text>\n</svg>\n";
  return s;
}

}  // namespace yz::pipeline
