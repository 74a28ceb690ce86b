// Benchmark metrics with the definitions of the harnesses they come from: lm-eval's acc /
// acc_norm over choice log-likelihoods, FinBen's macro-F1 over the gold label set, FinLoRA's
// earliest-label answer extraction, the majority-class baseline, and ROUGE-L (rouge_score).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace yz {

constexpr int64_t kMissing = -1;  // a generated answer that names no label

// lm-eval process_results (multiple_choice): argmax of the log-likelihoods, and of
// log-likelihood / len(choice) in characters (Python len: code points) for acc_norm.
int64_t argmax_choice(const std::vector<double>& logprobs);
int64_t argmax_choice_norm(const std::vector<double>& logprobs,
                           const std::vector<std::string>& choices);

double accuracy(const std::vector<int64_t>& gold, const std::vector<int64_t>& pred);

// sklearn f1_score(gold, pred, average="macro", labels=set(gold)), as FinBen's
// Classification.macro_f1: F1 per gold label, averaged; kMissing is just a wrong prediction.
double macro_f1(const std::vector<int64_t>& gold, const std::vector<int64_t>& pred);

struct Majority {
  int64_t label = 0;    // most frequent gold label (lowest index on ties)
  double acc = 0;       // its share of the documents
  double macro_f1 = 0;  // macro-F1 of always predicting it
};
Majority majority_baseline(const std::vector<int64_t>& gold);

// FinLoRA test_dataset.py evaluate_accuracy: the label whose first occurrence in `text` comes
// earliest (longest label on a tie), else kMissing. Lower-cases text and labels (ASCII) unless
// `case_sensitive`.
int64_t earliest_label(const std::string& text, const std::vector<std::string>& labels,
                       bool case_sensitive);

// True once more text can no longer change earliest_label(text + more): some label occurs, and
// no suffix starting at or before its position is a proper prefix of a label. Generation stops
// there without changing any score.
bool label_decided(const std::string& text, const std::vector<std::string>& labels,
                   bool case_sensitive);

// rouge_score's ROUGE-L F-measure (default tokenizer: lower-case, runs of [a-z0-9], no stemmer).
double rouge_l_f1(const std::string& prediction, const std::string& reference);

// Python's len(): UTF-8 code points.
int64_t utf8_length(const std::string& s);

}  // namespace yz
