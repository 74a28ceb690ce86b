// Prompts as lm-evaluation-harness builds them without a chat template: few-shot shots drawn
// by its samplers, the plain-text fewshot_context, and _encode_pair's context/continuation
// token split (lm_eval/api/task.py, samplers.py, model.py @ 4e7e0d4).
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "eval/py_random.h"
#include "eval/task.h"
#include "tokenizer/tokenizer.h"

namespace yz {

// Draws the shots for a task's documents in order, as one lm-eval ContextSampler would: one
// Random(seed) per task advanced by every draw (kRandom), or the first k pool rows of the
// document's group (kFirstN). k = 0, or a task without a pool, gives no shots.
class ShotPicker {
 public:
  ShotPicker(const Task& task, int64_t k, uint64_t seed);
  int64_t k() const { return k_; }
  std::vector<const Doc*> next(const Doc& doc);

 private:
  const Task& task_;
  int64_t k_;
  PyRandom rnd_;
};

// description + Σ(shot.text + target_delimiter + shot answer + fewshot_delimiter) + doc.text:
// fewshot_context's "".join(m.to_text() for m in messages) with build_qa_turn's delimiters.
std::string fewshot_context(const Task& task, const Doc& doc, const std::vector<const Doc*>& shots);

// _encode_pair (causal): trailing whitespace of the context moves to the continuation, the
// whole string is encoded once, and the continuation is whole[len(encode(context)):]. An empty
// context scores after `prefix_id` (lm-eval's prefix_token_id, the end-of-text token).
std::pair<std::vector<int32_t>, std::vector<int32_t>> encode_pair(const tok::Tokenizer& tokenizer,
                                                                  std::string context,
                                                                  std::string continuation,
                                                                  int32_t prefix_id);

// The ids a generation request is prompted with: the context as encode_pair encodes it
// (trailing whitespace left out; all of it kept if nothing else is left), so both protocols
// show the model the same tokens and its answer's own " word" token can follow "Answer:".
std::vector<int32_t> generation_prompt(const tok::Tokenizer& tokenizer, const std::string& context);

}  // namespace yz
