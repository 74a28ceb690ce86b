// What a benchmark task is once loaded: its scored documents (prompt text, choices and gold, or
// a reference text), its few-shot pool, and the prompt settings lm-evaluation-harness keeps in a
// task config (target_delimiter, fewshot_delimiter, description, sampler). Built by tasks.cc from
// the local data sets, or from a user's --task-file.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "util/fs.h"

namespace yz {

enum class TaskKind {
  kChoice,      // pick one of `choices` (classification labels or option letters)
  kText,        // produce `target` (scored by its log-likelihood, or by generation)
  kPerplexity,  // windowed perplexity of a held-out text
};

struct Doc {
  std::string text;                  // doc_to_text: the prompt without its answer
  std::vector<std::string> choices;  // kChoice: continuations scored after target_delimiter
  int64_t gold = -1;                 // kChoice: index into choices
  std::string target;                // kText: the reference answer
  std::string group;                 // subject / exam: picks the description and first_n shots
  std::string description;           // printed once before the shots (C-Eval's subject line)
  // doc_to_target: what a shot shows as its answer.
  const std::string& answer() const { return choices.empty() ? target : choices[gold]; }
};

enum class ShotSampler {
  kNone,    // no train/dev split: zero-shot only
  kRandom,  // lm-eval's default sampler: Random(seed).sample(pool, k), one generator per task
  kFirstN,  // lm-eval's first_n (C-Eval): the first k dev examples of the doc's group
};

struct Task {
  std::string name;
  TaskKind kind = TaskKind::kChoice;
  bool classification = false;  // a fixed label set: macro-F1 is reported
  std::string split;            // which rows are scored and where they come from
  std::vector<Doc> docs;        // scored, in file order (--limit keeps the first N)
  std::vector<Doc> shots;       // the few-shot pool (train or dev rows), never scored rows
  ShotSampler sampler = ShotSampler::kNone;
  std::string target_delimiter = " ";
  std::string fewshot_delimiter = "\n\n";
  // Generation (FinBen / FinLoRA protocol).
  int64_t max_new_tokens = 10;  // FinLoRA's limit for label answers; 50 for text answers
  bool case_sensitive = false;  // label matching: FinBen lower-cases all but option letters
  // kPerplexity
  std::string text;
  int64_t ppl_ctx = 1024, ppl_chunks = 32;
};

}  // namespace yz
