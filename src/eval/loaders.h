// Document loaders for the formats the built-in tasks come in: FinLoRA's {"context", "target"}
// JSONL, C-Eval-style CSV rows (FinEval, FinanceIQ), FinBen's flare-cfa JSON and CFLUE's
// knowledge JSON. Every malformed row names FILE:LINE or FILE: record N.
#pragma once

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "eval/task.h"
#include "util/fs.h"

namespace yz {

// Position of `s` in `list`, or -1.
int64_t index_of(const std::vector<std::string>& list, const std::string& s);
// "a, b, c" (error messages).
std::string join(const std::vector<std::string>& v, const char* sep);

// FinLoRA rows whose target is one of `labels` (the choices); `remap` fixes known label errors.
std::vector<Doc> finlora_choice_docs(const fs::path& path, const std::vector<std::string>& labels,
                                     const std::map<std::string, std::string>& remap = {});
// FinLoRA rows with a reference text as target.
std::vector<Doc> finlora_text_docs(const fs::path& path);

// lm-eval's C-Eval doc_to_text ("{{question.strip()}}\nA. {{A}}\n...答案：") and description for
// one question; `where` names it in errors.
Doc ceval_doc(const std::string& question,
              const std::vector<std::pair<std::string, std::string>>& options,
              const std::string& answer, const std::string& subject, const std::string& where);
// One subject's CSV (columns question_field, A-D, answer_field) as C-Eval documents.
std::vector<Doc> ceval_csv_docs(const fs::path& path, const std::string& subject,
                                const std::string& question_field, const std::string& answer_field);

// FinBen's flare-cfa records: query (the whole prompt), choices ["A", "B", "C"], gold index.
std::vector<Doc> cfa_docs(const fs::path& path);
// CFLUE knowledge records: the single-answer questions (单项选择题) in the C-Eval format; the
// options come as a Python dict literal.
std::vector<Doc> cflue_docs(const fs::path& path);

}  // namespace yz
