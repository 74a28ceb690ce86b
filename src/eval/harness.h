// `youzhi eval` as a library call: builds every document's prompt (few-shot, seeded), scores it
// by log-likelihood (lm-evaluation-harness) and/or by greedy generation (FinBen / FinLoRA), and
// returns one JSON object per task with the metrics, the majority-class baseline, truncation
// counts and wall time.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "eval/task.h"
#include "model/causal_lm.h"
#include "tokenizer/tokenizer.h"

namespace yz {

struct EvalOptions {
  bool loglik = true;
  bool generate = false;
  int64_t shots = 0;
  uint64_t seed = 1234;        // lm-eval's fewshot_random_seed default (DEFAULT_OTHER_SEED)
  int64_t limit = 0;           // first N documents per task (0 = all); windows for perplexity tasks
  int64_t batch = 16;          // documents per forward
  int64_t max_length = 0;      // 0 = the model's max_position_embeddings
  int64_t max_new_tokens = 0;  // 0 = the task's own (10 for labels, 50 for text)
  std::vector<int32_t> stop_ids;  // end-of-sequence ids for generation; the first is also
                                  // lm-eval's prefix token for an empty context
  bool progress = true;
};

nlohmann::ordered_json evaluate_task(CausalLm& lm, const tok::Tokenizer& tokenizer,
                                     const Task& task, const EvalOptions& options);

// The prompt of document `index` as the run above builds it (same shots for the same seed):
// what the few-shot tests and `youzhi eval --show-prompt` print.
std::string task_prompt(const Task& task, int64_t index, int64_t shots, uint64_t seed);

}  // namespace yz
