// The financial SFT mixture and its leak check (see fin_sft.h).
#include "train/fin_sft.h"

#include <cmath>

#include "eval/loaders.h"
#include "eval/tasks.h"
#include "util/error.h"
#include "util/text_file.h"

namespace yz::train {

namespace {

constexpr const char* kFinLoraTrain = "FinLoRA data/train (github Open-Finance-Lab/FinLoRA)";
constexpr const char* kFinLoraTest = "FinLoRA data/test (github Open-Finance-Lab/FinLoRA)";

fs::path need(const fs::path& data_dir, const std::string& rel, const char* provider) {
  const fs::path p = data_dir / rel;
  YZ_CHECK(fs::is_regular_file(p), p.string(), ": missing; fin-sft reads it from ", provider,
           " (../shared/data/SOURCES.md lists every file; --data-dir DIR reads another copy)");
  return p;
}

// What the evaluation prompts with (zero-shot): the description, then the document.
std::string prompt_of(const Doc& d) { return d.description + d.text; }

// FinLoRA test sets scored by no built-in task; a training row must not contain them either.
const std::vector<std::pair<std::string, std::string>> kExtraTests = {
    {"formula_test", "fin_eval/finlora/formula_test.jsonl"},
    {"financebench_test", "fin_eval/finlora/financebench_test.jsonl"}};

// Paragraphs of financial text between 200 and 4,000 characters, in file order.
std::vector<std::string> text_paragraphs(const fs::path& path, int64_t count) {
  const std::string text = read_text_input(path, static_cast<size_t>(count) * 8000 + (1 << 20));
  std::vector<std::string> out;
  size_t pos = 0;
  while (pos < text.size() && static_cast<int64_t>(out.size()) < count) {
    size_t end = text.find("\n\n", pos);
    if (end == std::string::npos) end = text.size();
    std::string p = text.substr(pos, end - pos);
    pos = end + 2;
    const size_t a = p.find_first_not_of(" \t\r\n"), b = p.find_last_not_of(" \t\r\n");
    if (a == std::string::npos) continue;
    p = p.substr(a, b - a + 1);
    if (p.size() >= 200 && p.size() <= 4000) out.push_back(std::move(p));
  }
  YZ_CHECK(static_cast<int64_t>(out.size()) == count, path.string(), ": ", out.size(),
           " usable paragraphs where --text-share needs ", count);
  return out;
}

}  // namespace

std::string normalize_whitespace(const std::string& s) {
  std::string out;
  bool space = false;
  for (size_t i = 0; i < s.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    const bool nbsp = c == 0xC2 && i + 1 < s.size() && static_cast<unsigned char>(s[i + 1]) == 0xA0;
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v' || nbsp) {
      space = true;
      i += nbsp ? 1 : 0;
      continue;
    }
    if (space && !out.empty()) out.push_back(' ');
    space = false;
    out.push_back(static_cast<char>(c));
  }
  return out;
}

TestSetIndex::TestSetIndex(const fs::path& data_dir) {
  for (const TaskInfo& info : task_catalog()) {
    const Task t = load_task(info.name, data_dir, /*with_shots=*/false);
    if (t.kind == TaskKind::kPerplexity) continue;
    for (size_t i = 0; i < t.docs.size(); ++i) {
      const std::string p = prompt_of(t.docs[i]);
      add(t.name, static_cast<int64_t>(i), p);
      add(t.name, static_cast<int64_t>(i), p + t.target_delimiter + t.docs[i].answer());
    }
    per_task_[t.name] = static_cast<int64_t>(t.docs.size());
    documents_ += static_cast<int64_t>(t.docs.size());
  }
  for (const auto& [name, rel] : kExtraTests) {
    const std::vector<Doc> docs = finlora_text_docs(need(data_dir, rel, kFinLoraTest));
    for (size_t i = 0; i < docs.size(); ++i) {
      add(name, static_cast<int64_t>(i), docs[i].text);
      add(name, static_cast<int64_t>(i), docs[i].text + " " + docs[i].target);
    }
    per_task_[name] = static_cast<int64_t>(docs.size());
    documents_ += static_cast<int64_t>(docs.size());
  }
}

void TestSetIndex::add(const std::string& task, int64_t index, const std::string& text) {
  const std::string where = task + " #" + std::to_string(index);
  exact_.emplace(text, where);
  normalized_.emplace(normalize_whitespace(text), where);
}

std::string TestSetIndex::match(const std::string& text) const {
  if (auto it = exact_.find(text); it != exact_.end()) return it->second;
  if (auto it = normalized_.find(normalize_whitespace(text)); it != normalized_.end())
    return it->second + " (whitespace-normalised)";
  return "";
}

std::vector<Leak> find_leaks(const std::vector<SftRow>& rows, const TestSetIndex& index) {
  std::vector<Leak> leaks;
  for (size_t i = 0; i < rows.size(); ++i) {
    std::string m = rows[i].context.empty() ? "" : index.match(rows[i].context);
    if (m.empty()) m = index.match(rows[i].context + rows[i].target);
    if (!m.empty()) leaks.push_back({static_cast<int64_t>(i), m});
  }
  return leaks;
}

FinSftMixture build_fin_sft(const FinSftOptions& o, const TestSetIndex& index) {
  YZ_CHECK(o.text_share >= 0 && o.text_share < 1, "--text-share ", o.text_share,
           " must be in [0, 1)");
  FinSftMixture mix;
  auto take = [&](const std::string& source, const std::vector<Doc>& docs,
                  const std::string& delimiter) {
    std::vector<SftRow> rows;
    for (const Doc& d : docs) rows.push_back({source, prompt_of(d), delimiter + d.answer()});
    std::vector<bool> leaked(rows.size(), false);
    const std::vector<Leak> leaks = find_leaks(rows, index);
    for (const Leak& l : leaks) leaked[l.row] = true;
    for (size_t i = 0; i < rows.size(); ++i)
      if (!leaked[i]) mix.rows.push_back(std::move(rows[i]));
    mix.counts[source] = static_cast<int64_t>(rows.size() - leaks.size());
    mix.dropped[source] = static_cast<int64_t>(leaks.size());
  };
  const fs::path& d = o.data_dir;
  const Task fpb = load_task("fpb", d, /*with_shots=*/true);  // its pool is fpb_train_docs
  take("fpb_train", fpb.shots, fpb.target_delimiter);
  const Task xbrl = load_task("xbrl_term", d, true);
  take("xbrl_term_train", xbrl.shots, xbrl.target_delimiter);
  take("formula_train", finlora_text_docs(need(d, "fin_eval/finlora/formula_train.jsonl", kFinLoraTrain)), " ");
  take("financebench_train",
       finlora_text_docs(need(d, "fin_eval/finlora/financebench_train.jsonl", kFinLoraTrain)), " ");
  const Task fineval = load_task("fineval", d, true);
  take("fineval_dev", fineval.shots, fineval.target_delimiter);
  const Task financeiq = load_task("financeiq", d, true);
  take("financeiq_dev", financeiq.shots, financeiq.target_delimiter);
  if (o.text_share > 0) {
    const auto n = static_cast<int64_t>(
        std::ceil(o.text_share / (1 - o.text_share) * static_cast<double>(mix.rows.size())));
    std::vector<Doc> docs;
    for (auto& p : text_paragraphs(need(d, "corpus/fin_domain.txt.xz", "corpus/ (SOURCES.md)"), n)) {
      Doc doc;
      doc.target = std::move(p);
      docs.push_back(std::move(doc));
    }
    take("fin_text", docs, "");
  }
  const std::vector<Leak> left = find_leaks(mix.rows, index);
  YZ_ASSERT(left.empty(), "fin-sft row ", left.empty() ? 0 : left[0].row, " still matches ",
            left.empty() ? "" : left[0].test);
  return mix;
}

std::string sft_rows_jsonl(const std::vector<SftRow>& rows) {
  std::string out;
  for (const SftRow& r : rows)
    out += nlohmann::ordered_json{{"source", r.source}, {"context", r.context}, {"target", r.target}}
               .dump() +
           "\n";
  return out;
}

}  // namespace yz::train
