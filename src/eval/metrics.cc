// Metrics (see metrics.h). References: lm-eval api/task.py process_results (acc, acc_norm),
// PIXIU src/tasks/flare.py Classification.macro_f1, FinLoRA test/test_dataset.py
// evaluate_accuracy, google-research rouge_score (rouge_scorer._score_lcs, tokenize.py).
#include "eval/metrics.h"

#include <algorithm>
#include <map>
#include <set>

#include "util/error.h"

namespace yz {

namespace {

std::string lower_ascii(std::string s) {
  for (char& c : s)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return s;
}

}  // namespace

int64_t utf8_length(const std::string& s) {
  int64_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

int64_t argmax_choice(const std::vector<double>& lls) {
  YZ_ASSERT(!lls.empty(), "no choices to pick from");
  return std::max_element(lls.begin(), lls.end()) - lls.begin();  // np.argmax: first maximum
}

int64_t argmax_choice_norm(const std::vector<double>& lls,
                           const std::vector<std::string>& choices) {
  std::vector<double> norm(lls.size());
  for (size_t i = 0; i < lls.size(); ++i)
    norm[i] = lls[i] / static_cast<double>(utf8_length(choices[i]));
  return argmax_choice(norm);
}

double accuracy(const std::vector<int64_t>& gold, const std::vector<int64_t>& pred) {
  if (gold.empty()) return 0;
  int64_t hit = 0;
  for (size_t i = 0; i < gold.size(); ++i) hit += gold[i] == pred[i];
  return static_cast<double>(hit) / static_cast<double>(gold.size());
}

double macro_f1(const std::vector<int64_t>& gold, const std::vector<int64_t>& pred) {
  const std::set<int64_t> labels(gold.begin(), gold.end());
  if (labels.empty()) return 0;
  double sum = 0;
  for (int64_t l : labels) {
    int64_t tp = 0, fp = 0, fn = 0;
    for (size_t i = 0; i < gold.size(); ++i) {
      tp += gold[i] == l && pred[i] == l;
      fp += gold[i] != l && pred[i] == l;
      fn += gold[i] == l && pred[i] != l;
    }
    // 2PR / (P + R) = 2tp / (2tp + fp + fn); sklearn's zero_division gives 0 when tp = 0.
    sum += tp == 0 ? 0.0 : 2.0 * tp / static_cast<double>(2 * tp + fp + fn);
  }
  return sum / static_cast<double>(labels.size());
}

Majority majority_baseline(const std::vector<int64_t>& gold) {
  Majority m;
  if (gold.empty()) return m;
  std::map<int64_t, int64_t> count;
  for (int64_t g : gold) ++count[g];
  int64_t best = -1;
  for (const auto& [label, n] : count)
    if (n > best) {
      best = n;
      m.label = label;
    }
  m.acc = static_cast<double>(best) / static_cast<double>(gold.size());
  m.macro_f1 = macro_f1(gold, std::vector<int64_t>(gold.size(), m.label));
  return m;
}

int64_t earliest_label(const std::string& text, const std::vector<std::string>& labels,
                       bool case_sensitive) {
  const std::string t = case_sensitive ? text : lower_ascii(text);
  int64_t best = kMissing;
  size_t best_pos = std::string::npos, best_len = 0;
  for (size_t i = 0; i < labels.size(); ++i) {
    const std::string l = case_sensitive ? labels[i] : lower_ascii(labels[i]);
    const size_t pos = t.find(l);
    if (pos == std::string::npos) continue;
    if (pos < best_pos || (pos == best_pos && l.size() > best_len)) {
      best = static_cast<int64_t>(i);
      best_pos = pos;
      best_len = l.size();
    }
  }
  return best;
}

bool label_decided(const std::string& text, const std::vector<std::string>& labels,
                   bool case_sensitive) {
  const int64_t found = earliest_label(text, labels, case_sensitive);
  if (found == kMissing) return false;
  const std::string t = case_sensitive ? text : lower_ascii(text);
  const std::string f = case_sensitive ? labels[found] : lower_ascii(labels[found]);
  const size_t pos = t.find(f);
  for (size_t j = 0; j <= pos; ++j) {
    const std::string_view tail(t.data() + j, t.size() - j);
    for (const auto& label : labels) {
      const std::string l = case_sensitive ? label : lower_ascii(label);
      if (l.size() > tail.size() && l.compare(0, tail.size(), tail) == 0) return false;
    }
  }
  return true;
}

double rouge_l_f1(const std::string& prediction, const std::string& reference) {
  // tokenize.py: lower-case, replace every non-[a-z0-9] with a space, split.
  auto tokens = [](const std::string& s) {
    std::vector<std::string> out;
    std::string cur;
    for (char c : lower_ascii(s)) {
      if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) {
        cur.push_back(c);
      } else if (!cur.empty()) {
        out.push_back(std::move(cur));
        cur.clear();
      }
    }
    if (!cur.empty()) out.push_back(std::move(cur));
    return out;
  };
  const std::vector<std::string> p = tokens(prediction), r = tokens(reference);
  if (p.empty() || r.empty()) return 0;
  // _lcs_table: longest common subsequence by dynamic programming.
  std::vector<int64_t> prev(p.size() + 1, 0), cur(p.size() + 1, 0);
  for (size_t i = 1; i <= r.size(); ++i) {
    for (size_t j = 1; j <= p.size(); ++j)
      cur[j] = r[i - 1] == p[j - 1] ? prev[j - 1] + 1 : std::max(prev[j], cur[j - 1]);
    std::swap(prev, cur);
  }
  const double lcs = static_cast<double>(prev[p.size()]);
  if (lcs == 0) return 0;
  const double precision = lcs / static_cast<double>(p.size());
  const double recall = lcs / static_cast<double>(r.size());
  return 2 * precision * recall / (precision + recall);
}

}  // namespace yz
