// One task end to end (see harness.h).
#include "eval/harness.h"

#include <algorithm>
#include <chrono>
#include <cmath>

#include "eval/formats.h"
#include "eval/generate.h"
#include "eval/loglik.h"
#include "eval/metrics.h"
#include "eval/perplexity.h"
#include "eval/prompt.h"
#include "util/error.h"

namespace yz {

namespace {

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// Padded tokens per forward. On the CPU one forward's logits ([tokens, vocab] float32) stay under
// the 32 MiB mmap threshold apps/main.cc sets for glibc, so their buffer is reused rather than
// faulted in afresh every time (the fin suite at --limit 200 spent 22 s of 186 s CPU in the
// kernel with 8192-token batches); GPUs take 8192.
int64_t batch_tokens(const CausalLm& lm) {
  if (!lm->model->embed_tokens->weight.device().is_cpu()) return 8192;
  return std::max<int64_t>(256, (int64_t{32} << 20) / (lm->config.vocab_size * 4) - 16);
}

int64_t doc_count(const Task& task, int64_t limit) {
  const int64_t n = static_cast<int64_t>(task.docs.size());
  return limit > 0 ? std::min(limit, n) : n;
}

std::vector<std::string> contexts(const Task& task, int64_t n, int64_t shots, uint64_t seed) {
  ShotPicker picker(task, shots, seed);
  std::vector<std::string> out;
  for (int64_t i = 0; i < n; ++i)
    out.push_back(fewshot_context(task, task.docs[i], picker.next(task.docs[i])));
  return out;
}

nlohmann::ordered_json score_by_loglik(CausalLm& lm, const tok::Tokenizer& tk, const Task& task,
                                       const std::vector<std::string>& ctx, const EvalOptions& o,
                                       int64_t max_length) {
  const auto t0 = std::chrono::steady_clock::now();
  const int32_t prefix = o.stop_ids.empty() ? -1 : o.stop_ids.front();
  std::vector<LoglikRequest> reqs(ctx.size());
  int64_t n_requests = 0;
  for (size_t i = 0; i < ctx.size(); ++i) {
    const Doc& d = task.docs[i];
    // construct_requests: arguments = [(ctx, f"{target_delimiter}{cont}") for cont in choices]
    const std::vector<std::string> conts =
        task.kind == TaskKind::kChoice ? d.choices : std::vector<std::string>{d.target};
    for (const auto& c : conts) {
      YZ_CHECK(!ctx[i].empty() || prefix >= 0, "task ", task.name, " document ", i,
               ": empty context and the model names no end-of-text token to score after");
      auto [context, cont] = encode_pair(tk, ctx[i], task.target_delimiter + c, prefix);
      YZ_CHECK(!context.empty(), "task ", task.name, " document ", i,
               ": context is only whitespace");
      reqs[i].context = std::move(context);  // equal for every choice: the split depends on ctx
      reqs[i].continuations.push_back(std::move(cont));
      ++n_requests;
    }
  }
  LoglikOptions lo;
  lo.max_length = max_length;
  lo.batch = o.batch;
  lo.batch_tokens = batch_tokens(lm);
  lo.progress = o.progress;
  LoglikStats st;
  auto scores = score_loglik(lm, reqs, lo, &st);
  nlohmann::ordered_json r;
  if (task.kind == TaskKind::kChoice) {
    std::vector<int64_t> gold, pred, pred_norm;
    for (size_t i = 0; i < scores.size(); ++i) {
      std::vector<double> lls;
      for (const auto& s : scores[i]) lls.push_back(s.logprob);
      gold.push_back(task.docs[i].gold);
      pred.push_back(argmax_choice(lls));
      pred_norm.push_back(argmax_choice_norm(lls, task.docs[i].choices));
    }
    r["acc"] = accuracy(gold, pred);
    r["acc_norm"] = accuracy(gold, pred_norm);
    if (task.classification) r["macro_f1"] = macro_f1(gold, pred);
  } else {
    double nll = 0;
    int64_t tokens = 0, bytes = 0, greedy = 0;
    for (size_t i = 0; i < scores.size(); ++i) {
      nll -= scores[i][0].logprob;
      tokens += scores[i][0].tokens;
      bytes += static_cast<int64_t>(task.docs[i].target.size());
      greedy += scores[i][0].greedy;
    }
    r["target_ppl"] = std::exp(nll / static_cast<double>(tokens));  // per target token
    r["bits_per_byte"] = nll / (static_cast<double>(bytes) * std::log(2.0));
    r["greedy_match"] = static_cast<double>(greedy) / static_cast<double>(scores.size());
  }
  r["requests"] = n_requests;
  r["truncated_docs"] = st.truncated_docs;
  r["truncated_tokens"] = st.truncated_tokens;
  r["forwards"] = st.forwards;
  r["wall_s"] = seconds_since(t0);
  return r;
}

nlohmann::ordered_json score_by_generation(CausalLm& lm, const tok::Tokenizer& tk, const Task& task,
                                           const std::vector<std::string>& ctx,
                                           const EvalOptions& o, int64_t max_length) {
  const auto t0 = std::chrono::steady_clock::now();
  // Prompted as the log-likelihood context is (prompt.h generation_prompt): a context ending
  // in "Answer: " reaches the model as "Answer:". Fed as a lone " " token, a byte-level BPE model
  // (trained on merged " word" tokens) continues from a token it never saw before a word; the
  // space is not lost for scoring (labels are searched for, QA answers stripped).
  std::vector<std::vector<int32_t>> prompts;
  for (const auto& c : ctx) prompts.push_back(generation_prompt(tk, c));
  GenerateOptions go;
  go.max_new_tokens = o.max_new_tokens > 0 ? o.max_new_tokens : task.max_new_tokens;
  go.max_length = max_length;
  go.batch = o.batch;
  go.batch_tokens = batch_tokens(lm);
  go.stop_ids = o.stop_ids;
  go.progress = o.progress;
  const bool choice = task.kind == TaskKind::kChoice;
  // Choice tasks stop once the earliest label is settled (the score cannot change after it).
  StopRule settled = [&](size_t i, const std::vector<int32_t>& gen) {
    return label_decided(tk.decode(gen, /*skip_special_tokens=*/true), task.docs[i].choices,
                         task.case_sensitive);
  };
  GenerateStats st;
  auto outputs = generate_greedy(lm, prompts, go, choice ? settled : StopRule(), &st);
  nlohmann::ordered_json r;
  nlohmann::ordered_json samples = nlohmann::ordered_json::array();
  std::vector<int64_t> gold, pred;
  double rouge = 0, exact = 0;
  for (size_t i = 0; i < outputs.size(); ++i) {
    const Doc& d = task.docs[i];
    const std::string text = tk.decode(outputs[i], /*skip_special_tokens=*/true);
    if (choice) {
      gold.push_back(d.gold);
      pred.push_back(earliest_label(text, d.choices, task.case_sensitive));
    } else {
      // FinBen QA: results[0].strip() == gold; FinLoRA strips the answer before scoring.
      rouge += rouge_l_f1(text, d.target);
      exact += py_strip(text) == d.target;
    }
    if (samples.size() < 3)
      samples.push_back(
          {{"doc", i},
           {"output", text},
           {"prediction", choice ? (pred.back() == kMissing ? "missing" : d.choices[pred.back()])
                                 : py_strip(text)}});
  }
  const double n = static_cast<double>(outputs.size());
  if (choice) {
    r["acc"] = accuracy(gold, pred);
    if (task.classification) r["macro_f1"] = macro_f1(gold, pred);
    int64_t missing = 0;
    for (int64_t p : pred) missing += p == kMissing;
    r["missing"] = static_cast<double>(missing) / n;
  } else {
    r["rouge_l"] = rouge / n;
    r["exact_match"] = exact / n;
  }
  r["max_new_tokens"] = go.max_new_tokens;
  r["new_tokens"] = st.new_tokens;
  r["truncated_docs"] = st.truncated_docs;
  r["truncated_tokens"] = st.truncated_tokens;
  r["forwards"] = st.forwards;
  r["wall_s"] = seconds_since(t0);
  r["samples"] = samples;
  return r;
}

}  // namespace

std::string task_prompt(const Task& task, int64_t index, int64_t shots, uint64_t seed) {
  YZ_CHECK(index >= 0 && index < static_cast<int64_t>(task.docs.size()), "task ", task.name,
           " has ", task.docs.size(), " documents; no document ", index);
  return contexts(task, index + 1, shots, seed).back();
}

nlohmann::ordered_json evaluate_task(CausalLm& lm, const tok::Tokenizer& tk, const Task& task,
                                     const EvalOptions& o) {
  const auto t0 = std::chrono::steady_clock::now();
  const int64_t max_length = o.max_length > 0 ? o.max_length : lm->config.max_position_embeddings;
  YZ_CHECK(max_length <= lm->config.max_position_embeddings, "--max-length ", max_length,
           " exceeds the model's max_position_embeddings (", lm->config.max_position_embeddings,
           ")");
  nlohmann::ordered_json r;
  r["kind"] = task.kind == TaskKind::kPerplexity ? "perplexity"
              : task.kind == TaskKind::kText     ? "text"
              : task.classification              ? "classification"
                                                 : "multiple_choice";
  r["split"] = task.split;
  if (task.kind == TaskKind::kPerplexity) {
    PplOptions po;
    po.ctx = std::min(task.ppl_ctx, max_length);
    po.max_chunks = o.limit > 0 ? std::min(o.limit, task.ppl_chunks) : task.ppl_chunks;
    po.batch = 1;  // 1024-token windows: one per forward keeps activations small
    po.progress = o.progress;
    const PplResult p = perplexity(lm, tk.encode(task.text), po);
    r["perplexity"] = {{"ppl", p.ppl},
                       {"nll", p.nll},
                       {"tokens", p.tokens},
                       {"chunks", p.chunks},
                       {"ctx", po.ctx}};
    r["wall_s"] = seconds_since(t0);
    return r;
  }
  const int64_t n = doc_count(task, o.limit);
  ShotPicker probe(task, o.shots, o.seed);
  r["docs"] = n;
  r["docs_available"] = task.docs.size();
  r["shots"] = probe.k();
  if (o.shots > 0 && probe.k() == 0) r["shots_note"] = "no train/dev split: zero-shot";
  const std::vector<std::string> ctx = contexts(task, n, o.shots, o.seed);
  if (o.loglik) r["loglik"] = score_by_loglik(lm, tk, task, ctx, o, max_length);
  if (o.generate) r["generate"] = score_by_generation(lm, tk, task, ctx, o, max_length);
  if (task.kind == TaskKind::kChoice) {
    std::vector<int64_t> gold;
    for (int64_t i = 0; i < n; ++i) gold.push_back(task.docs[i].gold);
    const Majority m = majority_baseline(gold);
    const Doc& example = *std::find_if(task.docs.begin(), task.docs.begin() + n,
                                       [&](const Doc& d) { return d.gold == m.label; });
    r["majority"] = {{"label", example.choices[m.label]}, {"acc", m.acc}};
    if (task.classification) r["majority"]["macro_f1"] = m.macro_f1;
  }
  r["wall_s"] = seconds_since(t0);
  return r;
}

}  // namespace yz
