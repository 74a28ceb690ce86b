// The training loop behind `youzhi train lm` (cross-entropy) and `youzhi train distill` (GKD from
// a frozen teacher, TRL's GKDTrainer semantics; mla_conversion.md §8): per optimizer step, the
// rows of the global batch are packed from the data (or, with probability λ drawn once per step,
// replaced by the student's own continuations of their prefixes), every rank runs its share as
// grad_accum micro-batches (teacher forward without grad, student forward with per-layer
// activation checkpointing, chunked loss, backward), gradients are summed across ranks in buckets,
// clipped by global norm, and AdamW updates float32 masters. Rank 0 logs, evaluates and saves.
#pragma once

#include <atomic>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "train/data.h"
#include "train/model_state.h"
#include "train/optim.h"
#include "train/parallel.h"
#include "util/fs.h"

namespace yz::train {

enum class Objective { kLm, kDistill };

struct TrainConfig {
  Objective objective = Objective::kLm;
  fs::path student;  // train lm: --model
  fs::path teacher;  // distill only
  fs::path out;
  std::vector<fs::path> data;
  DocSplit documents = DocSplit::kParagraphs;

  // GKD (TRL GKDConfig defaults): loss JSD_β at temperature 1; with probability λ a step trains
  // on the student's own samples (temperature, max_new_tokens continuing a prefix of each row).
  double beta = 0.5, lambda = 0.5, temperature = 0.9;
  int64_t max_new_tokens = 128;

  int64_t tokens = 0, steps = 0;  // budget: one of them (steps = ceil(tokens / batch_tokens))
  int64_t seq_len = 1024;
  int64_t batch_tokens = 16384;  // per optimizer step, all ranks together
  int64_t grad_accum = 1;

  LrSchedule lr;  // total is filled in from the budget
  AdamWOptions adamw;
  double clip = 1.0;
  TrainGroup train = TrainGroup::kAttn;
  bool activation_checkpointing = true;
  int64_t loss_chunk = 0;  // 0: Liger's rule

  std::vector<fs::path> eval_files;
  int64_t eval_every = 0, eval_ctx = 1024, eval_chunks = 32;

  int64_t save_every = 0, keep = 2;
  bool save = true;  // false: no checkpoint or weight export at all (benchmarks)
  bool resume = false, overwrite = false;

  std::string device = "cpu", dtype;  // dtype: compute dtype; default float32 on CPU, bf16 on CUDA
  uint64_t seed = 0;
  double peak_tflops = 989;  // bf16 dense peak of one GPU (H100/H200 SXM) for MFU
  int64_t dist_timeout_s = 600;
  bool progress = true;
  bool verbose = true;  // a line per logged step on stdout (off for --json)
  const std::atomic<bool>* stop = nullptr;  // set by SIGINT/SIGTERM: save and return
};

// The run's settings as recorded in OUT/train/args.json; a --resume must match them except for
// the keys that do not change the computation (save/eval cadence, retention, progress).
nlohmann::ordered_json config_to_json(const TrainConfig& config);

// Runs (or resumes) the training; returns the summary (steps, tokens, final loss, eval
// perplexities before/after, throughput, stopped early or not). Errors are yz::Error, raised
// before any heavy work for bad settings and inputs.
nlohmann::ordered_json run_training(const TrainConfig& config, const DistEnv& env);

}  // namespace yz::train
