// The training loop (see trainer.h).
#include "train/trainer.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <set>
#include <thread>

#include "eval/perplexity.h"
#include "kernels/ops.h"
#include "model/config.h"
#include "model/generation.h"
#include "model/sampling.h"
#include "tokenizer/tokenizer.h"
#include "train/checkpoint.h"
#include "train/losses.h"
#include "train/report.h"
#include "util/error.h"
#include "util/json_file.h"
#include "util/progress.h"
#include "util/safetensors.h"
#include "util/text_file.h"

namespace yz::train {

namespace {

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

// Purposes of the stateless random draws (data.h mix_seed).
constexpr uint64_t kDrawLambda = 0x4C414D42;  // is this step on-policy
constexpr uint64_t kDrawSample = 0x534D504C;  // a row's sampler seed

// Settings that may change on --resume without changing what is computed.
const std::set<std::string> kResumeFree = {"save_every", "keep", "save", "eval_every", "eval_files",
                                           "eval_ctx", "eval_chunks", "progress", "dist_timeout_s"};

void validate(const TrainConfig& c, const DistEnv& env) {
  const bool distill = c.objective == Objective::kDistill;
  YZ_CHECK(!c.resume || !c.overwrite, "--resume and --overwrite exclude each other");
  YZ_CHECK((c.tokens > 0) != (c.steps > 0), "give the budget as one of --tokens N or --steps N");
  YZ_CHECK(c.seq_len >= 2, "--seq-len must be at least 2");
  YZ_CHECK(c.batch_tokens >= c.seq_len && c.batch_tokens % c.seq_len == 0, "--batch-tokens ",
           c.batch_tokens, " must be a positive multiple of --seq-len ", c.seq_len);
  const int64_t rows = c.batch_tokens / c.seq_len;
  YZ_CHECK(c.grad_accum >= 1 && rows % (c.grad_accum * env.world) == 0, "--batch-tokens ",
           c.batch_tokens, " gives ", rows, " rows of --seq-len ", c.seq_len,
           " per step, which must split evenly into --grad-accum ", c.grad_accum, " x ",
           env.world, " process(es)");
  if (distill) {
    YZ_CHECK(!c.teacher.empty(), "train distill needs --teacher");
    YZ_CHECK(c.beta >= 0 && c.beta <= 1, "--beta ", c.beta, " is outside [0, 1]");
    YZ_CHECK(c.lambda >= 0 && c.lambda <= 1, "--lambda ", c.lambda, " is outside [0, 1]");
    if (c.lambda > 0) {
      YZ_CHECK(c.temperature > 0, "--temperature must be > 0 for on-policy sampling (--lambda > 0)");
      YZ_CHECK(c.max_new_tokens >= 1 && c.max_new_tokens < c.seq_len, "--max-new-tokens ",
               c.max_new_tokens, " must be in [1, --seq-len): samples continue a prefix of each row");
    }
  }
  YZ_CHECK(c.lr.peak > 0 && c.lr.min >= 0 && c.lr.min <= c.lr.peak,
           "--lr must be > 0 and --min-lr in [0, --lr]");
  YZ_CHECK(c.lr.warmup >= 0, "--warmup must be >= 0");
  YZ_CHECK(c.lr.decay_fraction > 0 && c.lr.decay_fraction <= 1, "--decay-fraction must be in (0, 1]");
  YZ_CHECK(c.adamw.weight_decay >= 0 && c.clip >= 0, "--weight-decay and --clip must be >= 0");
  YZ_CHECK(c.eval_every >= 0 && c.save_every >= 0 && c.keep >= 0,
           "--eval-every, --save-every and --keep must be >= 0");
  YZ_CHECK(c.eval_ctx >= 2 && c.eval_chunks >= 0, "--eval-ctx must be >= 2, --eval-chunks >= 0");
  for (const auto& f : c.eval_files) YZ_CHECK(fs::is_regular_file(f), "--eval-file ", f.string(), ": no such file");
  YZ_CHECK(c.peak_tflops > 0, "--peak-tflops must be > 0");
}

// Refuses a pair that cannot be distilled (different vocabularies or tokenizers) before any work;
// warns when the student does not look like a conversion of the teacher.
void check_pair(const fs::path& teacher, const fs::path& student, bool verbose) {
  const ModelConfig t = load_config(teacher), s = load_config(student);
  YZ_CHECK(t.vocab_size == s.vocab_size, "teacher ", teacher.string(), " has vocab_size ",
           t.vocab_size, ", student ", student.string(), " has ", s.vocab_size,
           ": distillation compares their next-token distributions over one vocabulary");
  YZ_CHECK(read_json_file(teacher / "tokenizer.json") == read_json_file(student / "tokenizer.json"),
           "teacher ", (teacher / "tokenizer.json").string(), " and student ",
           (student / "tokenizer.json").string(),
           " differ: distillation needs the same tokenizer on both sides");
  // A conversion keeps the embeddings byte for byte (and hidden size, layers, MLP).
  Checkpoint ct(teacher), cs(student);
  const std::string e = "model.embed_tokens.weight";
  bool converted = t.hidden_size == s.hidden_size && t.num_hidden_layers == s.num_hidden_layers &&
                   ct.has(e) && cs.has(e) && ct.info(e).dtype == cs.info(e).dtype &&
                   ct.info(e).shape == cs.info(e).shape;
  if (converted) {
    TensorView a = ct.view(e), b = cs.view(e);
    converted = a.nbytes() == b.nbytes() && std::memcmp(a.data, b.data, a.nbytes()) == 0;
  }
  if (!converted && verbose)
    std::fprintf(stderr, "warning: student %s does not look like a conversion of teacher %s "
                 "(different shapes or embeddings); distilling anyway\n",
                 student.string().c_str(), teacher.string().c_str());
}

// Replaces each row by its first (T − max_new) tokens continued by the student's own sample
// (TRL GKDTrainer.training_step with λ: do_sample, temperature, top_k 0, top_p 1, no gradient).
// The loss counts the sampled tokens through the first stop id; the row is one sequence.
PackedRows on_policy_rows(CausalLm& student, const PackedRows& rows, const TrainConfig& c,
                          int64_t step, int64_t first_row, const torch::Device& device,
                          int64_t micro) {
  const int64_t B = rows.rows(), T = c.seq_len, P = T - c.max_new_tokens;
  std::vector<int32_t> stops(student->config.eos_token_ids.begin(), student->config.eos_token_ids.end());
  student->set_mla_path(MlaPath::kAbsorbed);  // the decode path serving runs; same logits
  PackedRows out;
  out.ids = rows.ids.clone();
  out.targets = torch::full({B, T}, kIgnore, torch::kLong);
  for (int64_t b0 = 0; b0 < B; b0 += micro) {
    const int64_t n = std::min(micro, B - b0);
    std::vector<Sampler> samplers;
    for (int64_t b = 0; b < n; ++b)
      samplers.emplace_back(SamplingParams{c.temperature, 1.0, 0,
                                           mix_seed(c.seed, kDrawSample, step, first_row + b0 + b)});
    std::vector<Sampler*> ptrs;
    for (auto& s : samplers) ptrs.push_back(&s);
    BatchGeneration g = generate_batch(student, rows.ids.narrow(0, b0, n).narrow(1, 0, P).to(device),
                                       c.max_new_tokens, ptrs, stops);
    out.ids.narrow(0, b0, n).narrow(1, P, c.max_new_tokens).copy_(g.ids);
    for (int64_t b = 0; b < n; ++b)  // position t predicts ids[t + 1] for sampled t + 1
      out.targets[b0 + b].narrow(0, P - 1, g.lengths[b])
          .copy_(out.ids[b0 + b].narrow(0, P, g.lengths[b]));
  }
  student->set_mla_path(MlaPath::kExplicit);
  out.positions = torch::arange(T, torch::kLong).expand({B, T}).contiguous();
  out.segments = torch::zeros({B, T}, torch::kLong);
  return out;
}

}  // namespace

nlohmann::ordered_json config_to_json(const TrainConfig& c) {
  auto paths = [](const std::vector<fs::path>& v) {
    std::vector<std::string> out;
    for (const auto& p : v) out.push_back(fs::absolute(p).lexically_normal().string());
    return out;
  };
  nlohmann::ordered_json j;
  j["objective"] = c.objective == Objective::kDistill ? "distill" : "lm";
  j["student"] = fs::absolute(c.student).lexically_normal().string();
  if (c.objective == Objective::kDistill) {
    j["teacher"] = fs::absolute(c.teacher).lexically_normal().string();
    j["beta"] = c.beta;
    j["lambda"] = c.lambda;
    j["temperature"] = c.temperature;
    j["max_new_tokens"] = c.max_new_tokens;
  }
  j["data"] = paths(c.data);
  j["documents"] = c.documents == DocSplit::kFiles ? "files" : "paragraphs";
  j["tokens"] = c.tokens;
  j["steps"] = c.steps;
  j["seq_len"] = c.seq_len;
  j["batch_tokens"] = c.batch_tokens;
  j["grad_accum"] = c.grad_accum;
  j["lr"] = c.lr.peak;
  j["min_lr"] = c.lr.min;
  j["warmup"] = c.lr.warmup;
  j["schedule"] = c.lr.kind == Schedule::kWsd ? "wsd" : "cosine";
  j["decay_fraction"] = c.lr.decay_fraction;
  j["adam_betas"] = {c.adamw.beta1, c.adamw.beta2};
  j["adam_eps"] = c.adamw.eps;
  j["weight_decay"] = c.adamw.weight_decay;
  j["clip"] = c.clip;
  j["train"] = train_group_name(c.train);
  j["activation_checkpointing"] = c.activation_checkpointing;
  j["loss_chunk"] = c.loss_chunk;
  j["eval_files"] = paths(c.eval_files);
  j["eval_every"] = c.eval_every;
  j["eval_ctx"] = c.eval_ctx;
  j["eval_chunks"] = c.eval_chunks;
  j["save_every"] = c.save_every;
  j["keep"] = c.keep;
  j["save"] = c.save;
  j["dtype"] = c.dtype;
  j["seed"] = c.seed;
  j["dist_timeout_s"] = c.dist_timeout_s;
  return j;
}

namespace {

// One run: set up (inputs checked before heavy work, run directory, models, resumed state), then
// steps until the budget is spent or a stop is requested, then the summary.
class Trainer {
 public:
  Trainer(const TrainConfig& c, const DistEnv& env)
      : c_(c), env_(env), distill_(c.objective == Objective::kDistill), lead_(env.rank == 0),
        device_(pick_device(c, env)), guard_(device_) {}

  nlohmann::ordered_json run() {
    prepare();
    Progress bar("train", total_steps_ - start_step_, "step", lead_ && c_.progress);
    while (state_.step < total_steps_ && !stopped_) {
      step();
      bar.add(1);
      const bool last = state_.step == total_steps_;
      if (c_.eval_every > 0 && (state_.step % c_.eval_every == 0 || last)) evaluate(true);
      if (c_.save && (last || stopped_ || (c_.save_every > 0 && state_.step % c_.save_every == 0))) save();
    }
    bar.finish();
    return finish();
  }

 private:
  // One GPU per process: worker r of a data-parallel run takes cuda:LOCAL_RANK.
  static torch::Device pick_device(const TrainConfig& c, const DistEnv& env) {
    torch::Device d = parse_device(c.device);
    if (!d.is_cuda() || env.world == 1) return d;
    YZ_CHECK(env.local_rank < static_cast<int>(torch::cuda::device_count()), "worker ", env.rank,
             " needs cuda:", env.local_rank, " but ", torch::cuda::device_count(),
             " CUDA device(s) are visible (one GPU per process)");
    return torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(env.local_rank));
  }

  void prepare();
  void step();
  PackedRows step_rows(double* gen_s, bool* on_policy);
  void evaluate(bool print);
  void save();
  nlohmann::ordered_json finish();

  const TrainConfig& c_;
  const DistEnv env_;
  const bool distill_, lead_;
  const torch::Device device_;
  c10::DeviceGuard guard_;  // the current device of this worker (NCCL, allocations)
  torch::ScalarType dtype_ = torch::kFloat;
  int64_t rows_per_step_ = 0, own_rows_ = 0, micro_rows_ = 0, total_steps_ = 0, start_step_ = 0;
  LrSchedule schedule_;
  bool resuming_ = false, stopped_ = false;
  std::unique_ptr<tok::Tokenizer> tokenizer_;
  std::unique_ptr<TextDocuments> docs_;
  std::unique_ptr<Packer> packer_;
  std::unique_ptr<Dist> dist_;
  CausalLm student_{nullptr}, teacher_{nullptr};
  TrainableParams trainable_;
  std::unique_ptr<AdamW> optimizer_;
  std::unique_ptr<GradBuckets> buckets_;
  TrainState state_;
  std::vector<std::pair<std::string, std::vector<int32_t>>> eval_ids_;
  std::unique_ptr<TrainLog> log_;
  nlohmann::ordered_json eval_before_, eval_after_;
  int64_t eval_step_ = -1;  // step of the latest evaluation
  double last_loss_ = std::nan(""), train_seconds_ = 0;
  int64_t loss_peak_bytes_ = 0, step_peak_bytes_ = 0;
  Clock::time_point t_start_ = Clock::now();
};

void Trainer::prepare() {
  validate(c_, env_);
  dtype_ = parse_dtype_name(c_.dtype.empty() ? (device_.is_cuda() ? "bfloat16" : "float32") : c_.dtype);
  if (!device_.is_cuda() && env_.world > 1) {  // share the cores between the local workers
    const char* lw = std::getenv("LOCAL_WORLD_SIZE");
    const int local = lw != nullptr ? std::max(1, std::atoi(lw)) : env_.world;
    torch::set_num_threads(std::max(1, static_cast<int>(std::thread::hardware_concurrency()) / local));
  }
  // Inputs and settings, before any heavy work.
  if (distill_) check_pair(c_.teacher, c_.student, lead_);
  const ModelConfig student_cfg = load_config(c_.student);
  if (distill_ && student_cfg.family != Family::kMla && lead_)
    std::fprintf(stderr, "warning: student %s is a %s model, not an MLA conversion\n",
                 c_.student.string().c_str(), family_name(student_cfg.family));
  tokenizer_ = std::make_unique<tok::Tokenizer>(tok::Tokenizer::from_file(c_.student));
  rows_per_step_ = c_.batch_tokens / c_.seq_len;
  own_rows_ = rows_per_step_ / env_.world;
  micro_rows_ = own_rows_ / c_.grad_accum;
  total_steps_ = c_.steps > 0 ? c_.steps : (c_.tokens + c_.batch_tokens - 1) / c_.batch_tokens;
  schedule_ = c_.lr;
  schedule_.total = total_steps_;
  YZ_CHECK(schedule_.warmup < total_steps_, "--warmup ", schedule_.warmup, " must be below the ",
           total_steps_, " steps of the budget");
  docs_ = std::make_unique<TextDocuments>(c_.data, *tokenizer_, c_.documents);
  {  // too little data: one step would use some text twice
    Packer probe(*docs_, c_.seq_len, c_.seed);
    probe.next(rows_per_step_);
    const DataCursor& k = probe.cursor();
    YZ_CHECK(k.epoch == 0 || (k.epoch == 1 && k.doc == 0 && k.offset == 0), "--data holds fewer than ",
             c_.batch_tokens, " tokens (one step of --batch-tokens); give more text or a smaller batch");
  }
  const nlohmann::ordered_json args = config_to_json(c_);
  std::vector<fs::path> inputs = c_.data;
  inputs.push_back(c_.student);
  if (distill_) inputs.push_back(c_.teacher);
  const bool exists = fs::exists(c_.out);
  YZ_CHECK(!exists || c_.resume || c_.overwrite, "output ", c_.out.string(),
           " already exists; pass --resume to continue its run or --overwrite to start over");
  resuming_ = c_.resume && exists;
  if (resuming_) {
    const fs::path a = c_.out / "train" / "args.json";
    YZ_CHECK(fs::is_regular_file(a), c_.out.string(), " is not a training run (no train/args.json)");
    const nlohmann::json old = read_json_file(a), now = args;
    for (auto it = now.begin(); it != now.end(); ++it)
      YZ_CHECK(kResumeFree.count(it.key()) || (old.contains(it.key()) && old[it.key()] == it.value()),
               "--resume: setting '", it.key(), "' was ", old.value(it.key(), nlohmann::json()).dump(),
               " in ", a.string(), ", now ", it.value().dump(), " (a resumed run must compute the same)");
  }

  if (env_.world > 1) dist_ = std::make_unique<Dist>(env_, device_, std::chrono::seconds(c_.dist_timeout_s));
  if (lead_ && !resuming_) create_run_dir(c_.out, c_.student, args, c_.overwrite, inputs);
  if (dist_) dist_->barrier();

  // Models: frozen teacher, student with float32 masters of its trainable group.
  student_ = load_causal_lm(c_.student, {device_, dtype_});
  if (distill_) {
    teacher_ = load_causal_lm(c_.teacher, {device_, dtype_});
    for (auto& p : teacher_->parameters()) p.set_requires_grad(false);
  }
  trainable_ = select_trainable(student_, c_.train);
  optimizer_ = std::make_unique<AdamW>(trainable_.masters, trainable_.names, trainable_.decay, c_.adamw);
  if (resuming_) {
    auto loaded = load_latest_checkpoint(c_.out, trainable_, *optimizer_, [&](const std::string& m) {
      if (lead_) std::fprintf(stderr, "warning: %s\n", m.c_str());
    });
    if (loaded) state_ = *loaded;
    if (lead_ && c_.verbose)
      std::printf("resuming %s at step %lld of %lld\n", c_.out.string().c_str(),
                  static_cast<long long>(state_.step), static_cast<long long>(total_steps_));
  }
  start_step_ = state_.step;
  packer_ = std::make_unique<Packer>(*docs_, c_.seq_len, c_.seed);
  packer_->seek(state_.cursor);
  buckets_ = std::make_unique<GradBuckets>(trainable_.params, trainable_.masters, dist_.get());
  if (!lead_) return;
  for (const auto& f : c_.eval_files)
    eval_ids_.emplace_back(f.filename().string(), tokenizer_->encode(read_text_input(f)));
  log_ = std::make_unique<TrainLog>(c_.out / "train" / "log.jsonl", state_.step > 0 ? state_.step : -1);
  if (state_.step == 0) evaluate(false);
}

// This rank's rows of the step: packed data, or (probability λ, drawn once per step from the seed
// so every rank agrees) the student's own continuations of them.
PackedRows Trainer::step_rows(double* gen_s, bool* on_policy) {
  const int64_t step = state_.step;
  PackedRows rows = packer_->next(rows_per_step_).slice(env_.rank * own_rows_, own_rows_);
  *on_policy = distill_ && c_.lambda > 0 && uniform01(mix_seed(c_.seed, kDrawLambda, step)) < c_.lambda;
  *gen_s = 0;
  if (*on_policy) {
    const auto t0 = Clock::now();
    rows = on_policy_rows(student_, rows, c_, step, env_.rank * own_rows_, device_, micro_rows_);
    *gen_s = seconds_since(t0);
  }
  return rows;
}

void Trainer::step() {
  const auto t0 = Clock::now();
  const int dev = device_.is_cuda() ? std::max<int>(0, device_.index()) : 0;
  if (device_.is_cuda()) kernels::reset_device_peak(dev);
  double gen_s = 0;
  bool on_policy = false;
  const PackedRows rows = step_rows(&gen_s, &on_policy);
  // Every rank normalises by the tokens the whole step counts (TRL's num_items_in_batch).
  torch::Tensor counted = (rows.targets != kIgnore).sum().to(torch::kDouble).to(device_).reshape({1});
  if (dist_) dist_->allreduce_sum(counted);
  const double global_count = counted.item<double>();
  YZ_CHECK(global_count > 0, "step ", state_.step, " has no token to train on (every target masked)");
  LossOptions lo;
  lo.gkd = distill_;
  lo.beta = c_.beta;
  lo.scale = 1.0 / global_count;
  lo.chunk = c_.loss_chunk;
  const torch::Tensor w_teacher = distill_ ? teacher_->output_weight() : torch::Tensor();
  buckets_->zero();
  torch::Tensor sums = torch::zeros({2}, torch::dtype(torch::kDouble).device(device_));  // loss, stop
  int64_t pairs = 0;
  for (int64_t k = 0; k < c_.grad_accum; ++k) {
    const PackedRows mb = rows.slice(k * micro_rows_, micro_rows_);
    pairs += attended_pairs(mb.segments);
    buckets_->begin_micro(k + 1 == c_.grad_accum);
    ForwardOptions fo;
    const torch::Tensor ids = mb.ids.to(device_);
    fo.positions = mb.positions.to(device_);
    fo.document_mask = document_mask(mb.segments, device_);
    torch::Tensor h_t;
    if (distill_) {
      torch::NoGradGuard no_grad;
      h_t = teacher_->hidden_states(ids, fo).reshape({-1, teacher_->config.hidden_size});
    }
    if (c_.activation_checkpointing) fo.run_layer = checkpointed_layers();
    torch::Tensor h_s = student_->hidden_states(ids, fo).reshape({-1, student_->config.hidden_size});
    const bool measure = device_.is_cuda() && k == 0;  // the loss's own memory, at V = vocab
    int64_t before = 0;
    if (measure) {
      step_peak_bytes_ = std::max(step_peak_bytes_, kernels::device_peak_bytes(dev));
      before = kernels::device_allocated_bytes(dev);
      kernels::reset_device_peak(dev);
    }
    torch::Tensor loss = chunked_linear_loss(h_s, student_->output_weight(),
                                             mb.targets.reshape({-1}).to(device_), h_t, w_teacher, lo);
    if (measure) loss_peak_bytes_ = std::max(loss_peak_bytes_, kernels::device_peak_bytes(dev) - before);
    loss.backward();
    sums[0] += loss.detach().to(torch::kDouble);
    for (auto& p : trainable_.params) p.mutable_grad() = torch::Tensor();
  }
  buckets_->finish_step();
  if (c_.stop != nullptr && c_.stop->load()) sums[1] = 1.0;
  if (dist_) dist_->allreduce_sum(sums);  // the loss, and whether any rank was asked to stop
  std::vector<torch::Tensor> grads;
  for (const auto& m : trainable_.masters) grads.push_back(m.grad());
  const double grad_norm = clip_grad_norm(grads, c_.clip);
  const double lr = schedule_.at(state_.step);
  optimizer_->step(lr);
  copy_masters_to_params(trainable_);
  const torch::Tensor host = sums.cpu();
  last_loss_ = host[0].item<double>();
  stopped_ = host[1].item<double>() > 0;
  const double dt = seconds_since(t0);
  if (device_.is_cuda()) step_peak_bytes_ = std::max(step_peak_bytes_, kernels::device_peak_bytes(dev));
  train_seconds_ += dt;
  state_.step += 1;
  state_.tokens += c_.batch_tokens;
  state_.cursor = packer_->cursor();
  if (!lead_) return;
  nlohmann::ordered_json r;
  r["step"] = state_.step;
  r["tokens"] = state_.tokens;
  r["epoch"] = state_.cursor.epoch;
  r["loss"] = last_loss_;
  r["grad_norm"] = grad_norm;
  r["lr"] = lr;
  r["counted_tokens"] = static_cast<int64_t>(global_count);
  r["tokens_per_s"] = c_.batch_tokens / dt;
  r["step_s"] = dt;
  if (distill_) r["on_policy"] = on_policy;
  if (on_policy) r["gen_s"] = gen_s;
  if (dist_) r["comm_wait_s"] = buckets_->comm_seconds();
  if (device_.is_cuda()) {  // MFU of this GPU's share, generation excluded (reported as gen_s)
    const StepFlops f = step_flops(distill_ ? &teacher_->config : nullptr, student_->config,
                                   trainable_, own_rows_ * c_.seq_len, pairs);
    r["mfu"] = f.total() / ((dt - gen_s) * c_.peak_tflops * 1e12);
    r["peak_device_bytes"] = step_peak_bytes_;
  }
  log_->write(r);
}

void Trainer::evaluate(bool print) {
  if (!lead_ || eval_ids_.empty()) return;
  PplOptions po;
  po.ctx = c_.eval_ctx;
  po.max_chunks = c_.eval_chunks;
  po.progress = false;
  nlohmann::ordered_json e;
  for (const auto& [name, ids] : eval_ids_) e[name] = perplexity(student_, ids, po).ppl;
  (state_.step == 0 ? eval_before_ : eval_after_) = e;
  eval_step_ = state_.step;
  log_->write({{"step", state_.step}, {"eval", e}});
  if (!print || !c_.verbose) return;
  std::printf("step %lld/%lld  loss %.4f", static_cast<long long>(state_.step),
              static_cast<long long>(total_steps_), last_loss_);
  for (auto it = e.begin(); it != e.end(); ++it)
    std::printf("  ppl %s %.2f", it.key().c_str(), it.value().get<double>());
  std::printf("\n");
  std::fflush(stdout);
}

void Trainer::save() {
  if (lead_) {
    save_checkpoint(c_.out, trainable_, *optimizer_, state_, c_.keep);
    export_weights(c_.out, c_.student, student_);
  }
  if (dist_) dist_->barrier();
}

nlohmann::ordered_json Trainer::finish() {
  nlohmann::ordered_json out;
  if (!lead_) return out;
  if (eval_step_ != state_.step && start_step_ < state_.step) evaluate(false);
  log_.reset();
  const std::vector<nlohmann::json> records = read_log(c_.out / "train" / "log.jsonl");
  write_file_atomic(c_.out / "train" / "loss.svg",
                    loss_curve_svg(records, std::string(distill_ ? "train distill" : "train lm") +
                                                ": " + c_.out.filename().string()));
  for (const auto& r : records)  // the run's first evaluation, also when this process resumed it
    if (r.contains("eval") && eval_before_.empty()) eval_before_ = r["eval"];
  out["out"] = c_.out.string();
  out["objective"] = distill_ ? "distill" : "lm";
  out["steps"] = state_.step;
  out["total_steps"] = total_steps_;
  out["tokens"] = state_.tokens;
  out["loss"] = last_loss_;
  out["stopped_early"] = stopped_ && state_.step < total_steps_;
  out["resumed_from_step"] = resuming_ ? nlohmann::json(start_step_) : nlohmann::json(nullptr);
  out["world_size"] = env_.world;
  out["trainable_params"] = trainable_.numel();
  out["eval_before"] = eval_before_;
  out["eval_after"] = eval_after_;
  out["train_s"] = train_seconds_;
  out["tokens_per_s"] =
      train_seconds_ > 0 ? (state_.step - start_step_) * c_.batch_tokens / train_seconds_ : 0.0;
  if (device_.is_cuda()) {
    out["peak_device_bytes"] = step_peak_bytes_;
    out["loss_peak_bytes"] = loss_peak_bytes_;
  }
  out["wall_s"] = seconds_since(t_start_);
  return out;
}

}  // namespace

nlohmann::ordered_json run_training(const TrainConfig& config, const DistEnv& env) {
  return Trainer(config, env).run();
}

}  // namespace yz::train
