// The financial SFT mixture (`youzhi data fin-sft`) and the leak check against every test set.
// Rows are completion rows {"source", "context", "target"} in the evaluation's own prompt formats
// (eval/tasks.h), so SFT trains the continuation the log-likelihood protocol scores:
//   fpb_train          Sentences_50Agree minus every FinLoRA FPB test sentence (the eval's pool)
//   xbrl_term_train    FinLoRA XBRL term definitions, train split
//   formula_train      FinLoRA financial formula questions, train split
//   financebench_train FinLoRA FinanceBench questions with their pages, train split
//   fineval_dev        FinEval's dev rows (C-Eval prompt), the few-shot pool of `eval fineval`
//   financeiq_dev      FinanceIQ's dev rows, likewise
//   fin_text           optional: paragraphs of financial text never seen in pretraining
//                      (corpus/fin_domain.txt.xz: SEC filings and Fed speeches) as rows with an
//                      empty context, a share of the whole mixture
// The leak check compares every row's context, and context + target, with every scored document
// of every test set (the built-in financial tasks, FinLoRA's formula and FinanceBench tests):
// exactly, and after whitespace normalisation (runs of whitespace to one space, trimmed).
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <unordered_map>
#include <vector>

#include "util/fs.h"

namespace yz::train {

struct SftRow {
  std::string source, context, target;
};

// Runs of ASCII whitespace (and U+00A0) to one space, leading/trailing removed.
std::string normalize_whitespace(const std::string& s);

// Every scored test document of the financial benchmarks, by exact and normalised text.
class TestSetIndex {
 public:
  explicit TestSetIndex(const fs::path& data_dir);
  // A test document whose prompt (or prompt + answer) equals `text`, as "task #index" with
  // " (whitespace-normalised)" for a normalised match; empty when none.
  std::string match(const std::string& text) const;
  int64_t documents() const { return documents_; }
  const std::map<std::string, int64_t>& per_task() const { return per_task_; }

 private:
  void add(const std::string& task, int64_t index, const std::string& text);
  std::unordered_map<std::string, std::string> exact_, normalized_;
  std::map<std::string, int64_t> per_task_;
  int64_t documents_ = 0;
};

struct Leak {
  int64_t row = 0;  // index into the rows
  std::string test;
};
// Rows whose context, or context + target, is a test document.
std::vector<Leak> find_leaks(const std::vector<SftRow>& rows, const TestSetIndex& index);

struct FinSftOptions {
  fs::path data_dir;
  double text_share = 0;  // fin_text rows as a share of the final mixture, in [0, 1)
};

struct FinSftMixture {
  std::vector<SftRow> rows;
  nlohmann::ordered_json counts;   // source -> rows kept
  nlohmann::ordered_json dropped;  // source -> rows dropped as test-set matches
};

// Builds the mixture; rows matching a test document are dropped (and counted), and the result is
// checked again before it is returned (a leak left is an internal error).
FinSftMixture build_fin_sft(const FinSftOptions& options, const TestSetIndex& index);

std::string sft_rows_jsonl(const std::vector<SftRow>& rows);

}  // namespace yz::train
