// Document loaders (see loaders.h).
#include "eval/loaders.h"

#include <algorithm>
#include <functional>
#include <nlohmann/json.hpp>

#include "eval/formats.h"
#include "util/error.h"
#include "util/json_file.h"

namespace yz {

namespace {

// Calls `row` on every record of a JSON array file with "FILE: record N" for its errors.
void for_each_record(const fs::path& path,
                     const std::function<void(const nlohmann::json&, const std::string&)>& row) {
  const nlohmann::json rows = read_json_file(path);
  YZ_CHECK(rows.is_array(), path.string(), ": expected a JSON array of questions");
  for (size_t i = 0; i < rows.size(); ++i)
    row(rows[i], path.string() + ": record " + std::to_string(i));
}

}  // namespace

int64_t index_of(const std::vector<std::string>& list, const std::string& s) {
  auto it = std::find(list.begin(), list.end(), s);
  return it == list.end() ? -1 : it - list.begin();
}

std::string join(const std::vector<std::string>& v, const char* sep) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : sep) + s;
  return out;
}

std::vector<Doc> finlora_choice_docs(const fs::path& path, const std::vector<std::string>& labels,
                                     const std::map<std::string, std::string>& remap) {
  std::vector<Doc> docs;
  for (const JsonlRow& row : read_jsonl(path)) {
    Doc d;
    d.text = jsonl_string(path, row, "context");
    std::string target = jsonl_string(path, row, "target");
    if (auto it = remap.find(target); it != remap.end()) target = it->second;
    d.choices = labels;
    d.gold = index_of(labels, target);
    YZ_CHECK(d.gold >= 0, path.string(), ":", row.line, ": target '", target, "' is not one of ",
             join(labels, ", "));
    docs.push_back(std::move(d));
  }
  return docs;
}

std::vector<Doc> finlora_text_docs(const fs::path& path) {
  std::vector<Doc> docs;
  for (const JsonlRow& row : read_jsonl(path)) {
    Doc d;
    d.text = jsonl_string(path, row, "context");
    d.target = jsonl_string(path, row, "target");
    docs.push_back(std::move(d));
  }
  return docs;
}

Doc ceval_doc(const std::string& question,
              const std::vector<std::pair<std::string, std::string>>& options,
              const std::string& answer, const std::string& subject, const std::string& where) {
  Doc d;
  d.text = py_strip(question) + "\n";
  for (const auto& [letter, option] : options) {
    d.text += letter + ". " + option + "\n";
    d.choices.push_back(letter);
  }
  d.text += "答案：";
  d.gold = index_of(d.choices, py_strip(answer));
  YZ_CHECK(d.gold >= 0, where, ": answer '", answer, "' is not one of the options ",
           join(d.choices, ", "));
  d.group = subject;
  d.description = "以下是中国关于" + subject + "的单项选择题，请选出其中的正确答案。\n\n";
  return d;
}

std::vector<Doc> ceval_csv_docs(const fs::path& path, const std::string& subject,
                                const std::string& question_field,
                                const std::string& answer_field) {
  std::vector<Doc> docs;
  for (const CsvRecord& r : read_csv(path)) {
    const std::string where = path.string() + ":" + std::to_string(r.line);
    for (const char* f : {"A", "B", "C", "D"})
      YZ_CHECK(r.fields.count(f), where, ": no column ", f);
    YZ_CHECK(r.fields.count(question_field) && r.fields.count(answer_field), where,
             ": needs columns ", question_field, " and ", answer_field);
    docs.push_back(ceval_doc(r.fields.at(question_field),
                             {{"A", r.fields.at("A")},
                              {"B", r.fields.at("B")},
                              {"C", r.fields.at("C")},
                              {"D", r.fields.at("D")}},
                             r.fields.at(answer_field), subject, where));
  }
  return docs;
}

std::vector<Doc> cfa_docs(const fs::path& path) {
  std::vector<Doc> docs;
  for_each_record(path, [&](const nlohmann::json& r, const std::string& where) {
    YZ_CHECK(r.is_object() && r.contains("query") && r["query"].is_string() &&
                 r.contains("choices") && r["choices"].is_array() && r.contains("gold") &&
                 r["gold"].is_number_integer(),
             where, ": needs string 'query', array 'choices' and integer 'gold'");
    Doc doc;
    doc.text = r["query"].get<std::string>();
    for (const auto& c : r["choices"]) {
      YZ_CHECK(c.is_string(), where, ": choices must be strings");
      doc.choices.push_back(c.get<std::string>());
    }
    doc.gold = r["gold"].get<int64_t>();
    YZ_CHECK(doc.gold >= 0 && doc.gold < static_cast<int64_t>(doc.choices.size()), where, ": gold ",
             doc.gold, " is outside the ", doc.choices.size(), " choices");
    docs.push_back(std::move(doc));
  });
  return docs;
}

// CFLUE knowledge records (名称 = exam, task, question, choices as a Python dict literal,
// answer): the single-answer questions (单项选择题) in the C-Eval format.
std::vector<Doc> cflue_docs(const fs::path& path) {
  std::vector<Doc> docs;
  for_each_record(path, [&](const nlohmann::json& r, const std::string& where) {
    for (const char* f : {"名称", "task", "question", "choices", "answer"})
      YZ_CHECK(r.is_object() && r.contains(f) && r[f].is_string(), where, ": needs string field '",
               f, "'");
    if (r["task"].get<std::string>() != "单项选择题") return;
    std::vector<std::pair<std::string, std::string>> options;
    try {
      options = parse_python_str_dict(r["choices"].get<std::string>());
    } catch (const Error& e) {
      YZ_CHECK(false, where, ": choices: ", e.what());
    }
    docs.push_back(ceval_doc(r["question"].get<std::string>(), options,
                             r["answer"].get<std::string>(), r["名称"].get<std::string>(), where));
  });
  return docs;
}

}  // namespace yz
