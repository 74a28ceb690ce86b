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

nlohmann::ordered_json run_training(const TrainConfig& c, const DistEnv& env) {
  const auto t_start = Clock::now();
  validate(c, env);
  const bool distill = c.objective == Objective::kDistill;
  const bool lead = env.rank == 0;
  const bool say = lead && c.verbose;
  torch::Device device = parse_device(c.device);
  if (device.is_cuda() && env.world > 1) device = torch::Device(torch::kCUDA, env.local_rank);
  c10::DeviceGuard device_guard(device);
  const torch::ScalarType dtype =
      parse_dtype_name(c.dtype.empty() ? (device.is_cuda() ? "bfloat16" : "float32") : c.dtype);
  if (!device.is_cuda() && env.world > 1) {
    const char* lw = std::getenv("LOCAL_WORLD_SIZE");
    const int local = lw != nullptr ? std::max(1, std::atoi(lw)) : env.world;
    torch::set_num_threads(std::max(1, static_cast<int>(std::thread::hardware_concurrency()) / local));
  }

  // Inputs and settings, before any heavy work.
  if (distill) check_pair(c.teacher, c.student, lead);
  const ModelConfig student_cfg = load_config(c.student);
  if (distill && student_cfg.family != Family::kMla && lead)
    std::fprintf(stderr, "warning: student %s is a %s model, not an MLA conversion\n",
                 c.student.string().c_str(), family_name(student_cfg.family));
  const tok::Tokenizer tokenizer = tok::Tokenizer::from_file(c.student);
  const int64_t rows_per_step = c.batch_tokens / c.seq_len;
  const int64_t own_rows = rows_per_step / env.world, micro_rows = own_rows / c.grad_accum;
  const int64_t total_steps = c.steps > 0 ? c.steps : (c.tokens + c.batch_tokens - 1) / c.batch_tokens;
  LrSchedule schedule = c.lr;
  schedule.total = total_steps;
  YZ_CHECK(schedule.warmup < total_steps, "--warmup ", schedule.warmup, " must be below the ",
           total_steps, " steps of the budget");
  TextDocuments docs(c.data, tokenizer, c.documents);
  {  // too little data: one step would use some text twice
    Packer probe(docs, c.seq_len, c.seed);
    probe.next(rows_per_step);
    const DataCursor& k = probe.cursor();
    YZ_CHECK(k.epoch == 0 || (k.epoch == 1 && k.doc == 0 && k.offset == 0), "--data holds fewer than ",
             c.batch_tokens, " tokens (one step of --batch-tokens); give more text or a smaller batch");
  }
  const nlohmann::ordered_json args = config_to_json(c);
  std::vector<fs::path> inputs = c.data;
  inputs.push_back(c.student);
  if (distill) inputs.push_back(c.teacher);
  const bool exists = fs::exists(c.out);
  YZ_CHECK(!exists || c.resume || c.overwrite, "output ", c.out.string(),
           " already exists; pass --resume to continue its run or --overwrite to start over");
  const bool resuming = c.resume && exists;
  if (resuming) {
    const fs::path a = c.out / "train" / "args.json";
    YZ_CHECK(fs::is_regular_file(a), c.out.string(), " is not a training run (no train/args.json)");
    const nlohmann::json old = read_json_file(a), now = args;
    for (auto it = now.begin(); it != now.end(); ++it)
      YZ_CHECK(kResumeFree.count(it.key()) || (old.contains(it.key()) && old[it.key()] == it.value()),
               "--resume: setting '", it.key(), "' was ", old.value(it.key(), nlohmann::json()).dump(),
               " in ", a.string(), ", now ", it.value().dump(), " (a resumed run must compute the same)");
  }

  std::unique_ptr<Dist> dist;
  if (env.world > 1) dist = std::make_unique<Dist>(env, device, std::chrono::seconds(c.dist_timeout_s));
  if (lead && !resuming) create_run_dir(c.out, c.student, args, c.overwrite, inputs);
  if (dist) dist->barrier();

  // Models: frozen teacher, student with float32 masters of its trainable group.
  CausalLm student = load_causal_lm(c.student, {device, dtype});
  CausalLm teacher{nullptr};
  if (distill) {
    teacher = load_causal_lm(c.teacher, {device, dtype});
    for (auto& p : teacher->parameters()) p.set_requires_grad(false);
  }
  TrainableParams trainable = select_trainable(student, c.train);
  AdamW optimizer(trainable.masters, trainable.names, trainable.decay, c.adamw);
  TrainState state;
  if (resuming) {
    auto loaded = load_latest_checkpoint(c.out, trainable, optimizer, [&](const std::string& m) {
      if (lead) std::fprintf(stderr, "warning: %s\n", m.c_str());
    });
    if (loaded) state = *loaded;
    if (say) std::printf("resuming %s at step %lld of %lld\n", c.out.string().c_str(),
                         static_cast<long long>(state.step), static_cast<long long>(total_steps));
  }
  Packer packer(docs, c.seq_len, c.seed);
  packer.seek(state.cursor);
  GradBuckets buckets(trainable.params, trainable.masters, dist.get());

  std::vector<std::pair<std::string, std::vector<int32_t>>> eval_ids;
  if (lead)
    for (const auto& f : c.eval_files) eval_ids.emplace_back(f.filename().string(), tokenizer.encode(read_text_input(f)));
  auto evaluate = [&]() {
    nlohmann::ordered_json e;
    PplOptions po;
    po.ctx = c.eval_ctx;
    po.max_chunks = c.eval_chunks;
    po.progress = false;
    for (const auto& [name, ids] : eval_ids) e[name] = perplexity(student, ids, po).ppl;
    return e;
  };
  std::unique_ptr<TrainLog> log;
  nlohmann::ordered_json eval_before, eval_after;
  int64_t eval_step = -1;  // step of the latest evaluation
  if (lead) {
    log = std::make_unique<TrainLog>(c.out / "train" / "log.jsonl", state.step > 0 ? state.step : -1);
    if (state.step == 0 && !eval_ids.empty()) {
      eval_before = evaluate();
      log->write({{"step", 0}, {"eval", eval_before}});
      eval_step = 0;
    }
  }

  const int dev_index = device.is_cuda() ? std::max<int>(0, device.index()) : 0;
  const int64_t start_step = state.step;
  double last_loss = std::nan(""), train_seconds = 0;
  int64_t loss_peak_bytes = 0, step_peak_bytes = 0;
  bool stopped = false;
  Progress bar("train", total_steps - start_step, "step", lead && c.progress);
  const torch::Tensor w_teacher = distill ? teacher->output_weight() : torch::Tensor();
  for (; state.step < total_steps; ) {
    const int64_t step = state.step;
    const auto t0 = Clock::now();
    if (device.is_cuda()) kernels::reset_device_peak(dev_index);
    const PackedRows all = packer.next(rows_per_step);
    PackedRows rows = all.slice(env.rank * own_rows, own_rows);
    const bool on_policy =
        distill && c.lambda > 0 && uniform01(mix_seed(c.seed, kDrawLambda, step)) < c.lambda;
    double gen_s = 0;
    if (on_policy) {
      const auto tg = Clock::now();
      rows = on_policy_rows(student, rows, c, step, env.rank * own_rows, device, micro_rows);
      gen_s = seconds_since(tg);
    }
    // Every rank normalises by the tokens the whole step counts (TRL's num_items_in_batch).
    torch::Tensor counted = (rows.targets != kIgnore).sum().to(torch::kDouble).to(device).reshape({1});
    if (dist) dist->allreduce_sum(counted);
    const double global_count = counted.item<double>();
    YZ_CHECK(global_count > 0, "step ", step, " has no token to train on (every target masked)");
    LossOptions lo;
    lo.gkd = distill;
    lo.beta = c.beta;
    lo.scale = 1.0 / global_count;
    lo.chunk = c.loss_chunk;
    buckets.zero();
    torch::Tensor loss_sum = torch::zeros({2}, torch::dtype(torch::kDouble).device(device));
    int64_t pairs = 0;
    for (int64_t k = 0; k < c.grad_accum; ++k) {
      const PackedRows mb = rows.slice(k * micro_rows, micro_rows);
      pairs += attended_pairs(mb.segments);
      buckets.begin_micro(k + 1 == c.grad_accum);
      ForwardOptions fo;
      torch::Tensor ids = mb.ids.to(device);
      fo.positions = mb.positions.to(device);
      fo.mask = document_mask(mb.segments, dtype, device);
      torch::Tensor h_t;
      if (distill) {
        torch::NoGradGuard no_grad;
        h_t = teacher->hidden_states(ids, fo).reshape({-1, teacher->config.hidden_size});
      }
      if (c.activation_checkpointing) fo.run_layer = checkpointed_layers();
      torch::Tensor h_s = student->hidden_states(ids, fo).reshape({-1, student->config.hidden_size});
      const bool measure = device.is_cuda() && k == 0;
      int64_t before = 0;
      if (measure) {
        step_peak_bytes = std::max(step_peak_bytes, kernels::device_peak_bytes(dev_index));
        before = kernels::device_allocated_bytes(dev_index);
        kernels::reset_device_peak(dev_index);
      }
      torch::Tensor loss = chunked_linear_loss(h_s, student->output_weight(),
                                               mb.targets.reshape({-1}).to(device), h_t, w_teacher, lo);
      if (measure) loss_peak_bytes = std::max(loss_peak_bytes, kernels::device_peak_bytes(dev_index) - before);
      loss.backward();
      loss_sum[0] += loss.detach().to(torch::kDouble);
      for (auto& p : trainable.params) p.mutable_grad() = torch::Tensor();
    }
    buckets.finish_step();
    if (c.stop != nullptr && c.stop->load()) loss_sum[1] = 1.0;
    if (dist) dist->allreduce_sum(loss_sum);  // the loss and whether any rank was asked to stop
    std::vector<torch::Tensor> grads;
    for (const auto& m : trainable.masters) grads.push_back(m.grad());
    const double grad_norm = clip_grad_norm(grads, c.clip);
    const double lr = schedule.at(step);
    optimizer.step(lr);
    copy_masters_to_params(trainable);
    const torch::Tensor sums = loss_sum.cpu();
    last_loss = sums[0].item<double>();
    stopped = sums[1].item<double>() > 0;
    const double dt = seconds_since(t0);
    if (device.is_cuda()) step_peak_bytes = std::max(step_peak_bytes, kernels::device_peak_bytes(dev_index));
    train_seconds += dt;
    state.step += 1;
    state.tokens += c.batch_tokens;
    state.cursor = packer.cursor();

    if (lead) {
      nlohmann::ordered_json r;
      r["step"] = state.step;
      r["tokens"] = state.tokens;
      r["epoch"] = state.cursor.epoch;
      r["loss"] = last_loss;
      r["grad_norm"] = grad_norm;
      r["lr"] = lr;
      r["counted_tokens"] = static_cast<int64_t>(global_count);
      r["tokens_per_s"] = c.batch_tokens / dt;
      r["step_s"] = dt;
      if (distill) r["on_policy"] = on_policy;
      if (on_policy) r["gen_s"] = gen_s;
      if (dist) r["comm_wait_s"] = buckets.comm_seconds();
      if (device.is_cuda()) {
        const StepFlops f = step_flops(distill ? &teacher->config : nullptr, student->config,
                                       trainable, own_rows * c.seq_len, pairs);
        r["mfu"] = f.total() / ((dt - gen_s) * c.peak_tflops * 1e12);
        r["peak_device_bytes"] = step_peak_bytes;
      }
      log->write(r);
      bar.add(1);
    }
    const bool last = state.step == total_steps;
    if (lead && c.eval_every > 0 && (state.step % c.eval_every == 0 || last) && !eval_ids.empty()) {
      eval_after = evaluate();
      eval_step = state.step;
      log->write({{"step", state.step}, {"eval", eval_after}});
      if (say) {
        std::printf("step %lld/%lld  loss %.4f", static_cast<long long>(state.step),
                    static_cast<long long>(total_steps), last_loss);
        for (auto it = eval_after.begin(); it != eval_after.end(); ++it)
          std::printf("  ppl %s %.2f", it.key().c_str(), it.value().get<double>());
        std::printf("\n");
        std::fflush(stdout);
      }
    }
    const bool save = c.save && (last || stopped || (c.save_every > 0 && state.step % c.save_every == 0));
    if (save && lead) {
      save_checkpoint(c.out, trainable, optimizer, state, c.keep);
      export_weights(c.out, c.student, student);
    }
    if (save && dist) dist->barrier();
    if (stopped) break;
  }
  bar.finish();
  nlohmann::ordered_json out;
  if (!lead) return out;
  if (!eval_ids.empty() && eval_step != state.step && start_step < state.step) {
    eval_after = evaluate();
    log->write({{"step", state.step}, {"eval", eval_after}});
  }
  log.reset();
  const std::vector<nlohmann::json> records = read_log(c.out / "train" / "log.jsonl");
  write_file_atomic(c.out / "train" / "loss.svg",
                    loss_curve_svg(records, std::string(distill ? "train distill" : "train lm") +
                                                ": " + c.out.filename().string()));
  for (const auto& r : records)  // the run's first evaluation, also when this process resumed it
    if (r.contains("eval") && eval_before.empty()) eval_before = r["eval"];
  out["out"] = c.out.string();
  out["objective"] = distill ? "distill" : "lm";
  out["steps"] = state.step;
  out["total_steps"] = total_steps;
  out["tokens"] = state.tokens;
  out["loss"] = last_loss;
  out["stopped_early"] = stopped && state.step < total_steps;
  out["resumed_from_step"] = resuming ? nlohmann::json(start_step) : nlohmann::json(nullptr);
  out["world_size"] = env.world;
  out["trainable_params"] = trainable.numel();
  out["eval_before"] = eval_before;
  out["eval_after"] = eval_after;
  out["train_s"] = train_seconds;
  out["tokens_per_s"] = train_seconds > 0 ? (state.step - start_step) * c.batch_tokens / train_seconds : 0.0;
  if (device.is_cuda()) {
    out["peak_device_bytes"] = step_peak_bytes;
    out["loss_peak_bytes"] = loss_peak_bytes;
  }
  out["wall_s"] = seconds_since(t_start);
  return out;
}

}  // namespace yz::train
