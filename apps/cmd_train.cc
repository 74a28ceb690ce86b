// `youzhi train distill` (GKD from the original model), `youzhi train lm` (cross-entropy) and
// `youzhi train sft` (chat / instruction / completion JSONL, loss on the answers, optionally mixed
// with distillation from a teacher): flags into a TrainConfig, SIGINT/SIGTERM into a stop request (the trainer saves and exits 0), and
// --nproc N into N worker processes of this same command with torchrun's environment (RANK,
// WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT). A worker that fails takes the others down:
// the launcher terminates them, so no rank waits for a dead peer until a collective times out.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <thread>

#include "apps/chat.h"
#include "apps/commands.h"
#include "train/trainer.h"
#include "util/error.h"

namespace yz::apps {

namespace {

std::atomic<bool> g_stop{false};
std::vector<pid_t> g_children;

extern "C" void on_stop_signal(int) { g_stop.store(true); }
extern "C" void forward_signal(int sig) {
  for (pid_t p : g_children) ::kill(p, sig);
}

int free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  YZ_CHECK(fd >= 0, "cannot open a socket to pick MASTER_PORT");
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(a);
  const bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0 &&
                  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0;
  ::close(fd);
  YZ_CHECK(ok, "cannot pick a free port for MASTER_PORT");
  return ntohs(a.sin_port);
}

// Runs `nproc` copies of this process as workers 0..nproc-1 and waits for them. Returns the
// first failing worker's exit code (1 for a signal), 0 when all succeed.
int launch_workers(int nproc, const std::vector<std::string>& argv) {
  const std::string port = std::getenv("MASTER_PORT") ? std::getenv("MASTER_PORT")
                                                       : std::to_string(free_port());
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  std::fflush(nullptr);
  for (int r = 0; r < nproc; ++r) {
    const pid_t pid = ::fork();
    YZ_CHECK(pid >= 0, "fork failed while starting worker ", r);
    if (pid == 0) {
      ::setenv("RANK", std::to_string(r).c_str(), 1);
      ::setenv("LOCAL_RANK", std::to_string(r).c_str(), 1);
      ::setenv("WORLD_SIZE", std::to_string(nproc).c_str(), 1);
      ::setenv("LOCAL_WORLD_SIZE", std::to_string(nproc).c_str(), 1);
      ::setenv("MASTER_ADDR", "127.0.0.1", 0);
      ::setenv("MASTER_PORT", port.c_str(), 1);
      ::execv("/proc/self/exe", args.data());
      std::fprintf(stderr, "error: cannot start worker %d\n", r);
      ::_exit(127);
    }
    g_children.push_back(pid);
  }
  ::signal(SIGINT, forward_signal);
  ::signal(SIGTERM, forward_signal);
  int result = 0;
  size_t running = g_children.size();
  while (running > 0) {
    int status = 0;
    const pid_t pid = ::wait(&status);
    if (pid < 0) break;
    --running;
    int rank = 0;
    for (size_t i = 0; i < g_children.size(); ++i)
      if (g_children[i] == pid) rank = static_cast<int>(i), g_children[i] = -1;
    const int code = WIFEXITED(status) ? WEXITSTATUS(status) : 1;
    if (code == 0 || result != 0) continue;
    result = code;
    if (WIFSIGNALED(status))
      std::fprintf(stderr, "error: worker %d was killed by signal %d; stopping the other workers\n",
                   rank, WTERMSIG(status));
    else
      std::fprintf(stderr, "error: worker %d exited with code %d; stopping the other workers\n",
                   rank, code);
    for (pid_t p : g_children)
      if (p > 0) ::kill(p, SIGTERM);
    // Workers blocked in a collective cannot act on SIGTERM: give them 10 s, then SIGKILL.
    std::thread([] {
      std::this_thread::sleep_for(std::chrono::seconds(10));
      for (pid_t p : g_children)
        if (p > 0) ::kill(p, SIGKILL);
    }).detach();
  }
  return result;
}

struct TrainOpts {
  train::TrainConfig c;
  std::string documents = "paragraphs", schedule = "cosine", group = "attn", chat_template;
  int nproc = 1;
  bool json = false, no_checkpointing = false, no_save = false;
};

// `sft`: --data holds SFT rows, not text documents.
void add_common(CLI::App& app, TrainOpts& o, bool sft) {
  auto& c = o.c;
  app.add_option("--data", c.data,
                 sft ? "SFT JSONL: chat (messages), instruct (instruction/input/output) or "
                       "completion (context/target) rows"
                     : "Training text: plain text, .xz, or JSONL with a \"text\" field")
      ->required()->expected(1, -1);
  app.add_option("--out", c.out, "Output run directory (a loadable model directory)")->required();
  if (!sft)
    app.add_option("--documents", o.documents,
                   "What a document is in plain text: paragraphs (blank-line separated) or files");
  app.add_option("--tokens", c.tokens, "Token budget (steps = ceil(tokens / batch-tokens))");
  app.add_option("--steps", c.steps, "Optimizer steps (instead of --tokens)");
  app.add_option("--seq-len", c.seq_len, "Tokens per packed row");
  app.add_option("--batch-tokens", c.batch_tokens, "Tokens per optimizer step, all processes");
  app.add_option("--grad-accum", c.grad_accum, "Micro-batches per step and process");
  app.add_option("--lr", c.lr.peak, "Peak learning rate");
  app.add_option("--min-lr", c.lr.min, "Final learning rate");
  app.add_option("--warmup", c.lr.warmup, "Linear warmup steps");
  app.add_option("--schedule", o.schedule, "cosine or wsd (warmup-stable-decay)");
  app.add_option("--decay-fraction", c.lr.decay_fraction, "wsd: share of the steps that decay");
  app.add_option("--weight-decay", c.adamw.weight_decay, "AdamW decoupled weight decay (matrices)");
  app.add_option("--adam-beta2", c.adamw.beta2, "AdamW beta2");
  app.add_option("--clip", c.clip, "Global gradient-norm clip (0 = none)");
  app.add_option("--train", o.group, "Trainable parameters: attn, attn+norm or all");
  app.add_flag("--no-activation-checkpointing", o.no_checkpointing,
               "Keep every layer's activations instead of recomputing them in backward");
  app.add_option("--loss-chunk", c.loss_chunk, "Tokens per loss chunk (0 = Liger's rule)");
  app.add_option("--eval-file", c.eval_files, "Held-out text for perplexity");
  app.add_option("--eval-every", c.eval_every, "Evaluate every N steps (0 = before and after)");
  app.add_option("--eval-ctx", c.eval_ctx, "Perplexity window in tokens");
  app.add_option("--eval-chunks", c.eval_chunks, "Windows per evaluation file (0 = all)");
  app.add_option("--save-every", c.save_every, "Checkpoint every N steps (0 = at the end only)");
  app.add_option("--keep", c.keep, "Checkpoints to keep (0 = all)");
  app.add_flag("--no-save", o.no_save,
               "Write no checkpoint and keep the student's weights in --out (benchmarks)");
  app.add_flag("--resume", c.resume, "Continue the run in --out from its latest checkpoint");
  app.add_flag("--overwrite", c.overwrite, "Replace an existing --out");
  app.add_option("--device", c.device, "cpu or cuda[:N]");
  app.add_option("--dtype", c.dtype, "Compute dtype (default float32 on CPU, bfloat16 on CUDA)");
  app.add_option("--nproc", o.nproc, "Data-parallel worker processes to launch");
  app.add_option("--seed", c.seed, "Seed of the data order and every random draw");
  app.add_option("--peak-tflops", c.peak_tflops, "One GPU's dense bf16 peak for MFU");
  app.add_option("--dist-timeout", c.dist_timeout_s, "Seconds a collective may wait for peers");
  app.add_flag("--json", o.json, "Print one JSON summary at the end");
}

Command run_train(std::shared_ptr<TrainOpts> o, train::Objective objective) {
  return [o, objective]() {
    train::TrainConfig c = o->c;
    c.objective = objective;
    c.documents = train::parse_doc_split(o->documents);
    c.lr.kind = train::parse_schedule(o->schedule);
    c.train = train::parse_train_group(o->group);
    c.activation_checkpointing = !o->no_checkpointing;
    if (objective == train::Objective::kSft) {
      if (!c.sft_format.empty()) train::parse_sft_format(c.sft_format);  // a usage error first
      c.chat_template = o->chat_template;
      // Chat rows need a template: the model's own unless --chat-template names one.
      if (c.sft_format.empty() || c.sft_format == "chat")
        if (!o->chat_template.empty() || tmpl::ChatTemplate::from_model_dir(c.student))
          c.chat = std::make_shared<const tmpl::ChatTemplate>(
              resolve_chat_template(c.student.string(), o->chat_template));
    }
    c.save = !o->no_save;
    c.verbose = !o->json;
    YZ_CHECK(o->nproc >= 1, "--nproc must be >= 1");
    const train::DistEnv env = train::dist_env_from_environment();
    const bool worker = std::getenv("WORLD_SIZE") != nullptr;
    if (!worker && o->nproc > 1) {
      std::vector<std::string> argv;
      std::ifstream cmdline("/proc/self/cmdline", std::ios::binary);
      for (std::string a; std::getline(cmdline, a, '\0');) argv.push_back(a);
      return launch_workers(o->nproc, argv);
    }
    YZ_CHECK(!worker || o->nproc == 1 || o->nproc == env.world, "--nproc ", o->nproc,
             " disagrees with WORLD_SIZE ", env.world, " of the launcher");
    ::signal(SIGINT, on_stop_signal);
    ::signal(SIGTERM, on_stop_signal);
    c.stop = &g_stop;
    c.progress = env.rank == 0;
    nlohmann::ordered_json summary = train::run_training(c, env);
    if (env.rank != 0) return 0;
    if (o->json) {
      std::printf("%s\n", summary.dump().c_str());
    } else {
      std::printf("%s %s: %lld steps, %lld tokens, loss %.4f, %.0f tokens/s%s\n",
                  summary["stopped_early"].get<bool>() ? "stopped" : "trained",
                  c.out.string().c_str(), static_cast<long long>(summary["steps"].get<int64_t>()),
                  static_cast<long long>(summary["tokens"].get<int64_t>()),
                  summary["loss"].get<double>(), summary["tokens_per_s"].get<double>(),
                  summary["stopped_early"].get<bool>() ? " (resume with --resume)" : "");
      for (auto it = summary["eval_after"].begin(); it != summary["eval_after"].end(); ++it)
        std::printf("  ppl %-28s %9.2f -> %9.2f\n", it.key().c_str(),
                    summary["eval_before"].is_object() ? summary["eval_before"].value(it.key(), std::nan(""))
                                                       : std::nan(""),
                    it.value().get<double>());
    }
    return 0;
  };
}

}  // namespace

Command add_train(CLI::App& app) {
  app.require_subcommand(1);
  auto distill = std::make_shared<TrainOpts>();
  CLI::App* d = app.add_subcommand("distill", "GKD from a teacher (the original model) into a student");
  d->add_option("--teacher", distill->c.teacher, "Teacher model directory (frozen)")->required();
  d->add_option("--student", distill->c.student, "Student model directory (e.g. a conversion)")
      ->required();
  d->add_option("--beta", distill->c.beta, "Generalized JSD beta: 0 forward KL(T||S), 1 reverse KL");
  d->add_option("--lambda", distill->c.lambda, "Probability that a step trains on student samples");
  d->add_option("--temperature", distill->c.temperature, "Sampling temperature of on-policy steps");
  d->add_option("--max-new-tokens", distill->c.max_new_tokens, "Tokens sampled per on-policy row");
  add_common(*d, *distill, false);
  auto lm = std::make_shared<TrainOpts>();
  CLI::App* l = app.add_subcommand("lm", "Cross-entropy training (the baseline; continued pretraining)");
  l->add_option("--model", lm->c.student, "Model directory to train")->required();
  add_common(*l, *lm, false);
  auto sft = std::make_shared<TrainOpts>();
  CLI::App* s = app.add_subcommand(
      "sft", "Supervised fine-tuning on answers only (financial SFT), optionally with a KD term");
  s->add_option("--model", sft->c.student, "Model directory to fine-tune")->required();
  s->add_option("--format", sft->c.sft_format,
                "chat, instruct or completion (default: each file's first row decides)");
  s->add_option("--chat-template", sft->chat_template,
                "chatml or a Jinja file for chat rows (default: the model's own template)");
  s->add_option("--epochs", sft->c.epochs, "Passes over the data (instead of --tokens / --steps)");
  s->add_option("--teacher", sft->c.teacher, "Frozen teacher for the distillation term");
  s->add_option("--kd-weight", sft->c.kd_weight, "Weight w of the GKD term: (1-w)·CE + w·JSD");
  s->add_option("--beta", sft->c.beta, "Generalized JSD beta of the distillation term");
  add_common(*s, *sft, true);
  Command run_distill = run_train(distill, train::Objective::kDistill);
  Command run_lm = run_train(lm, train::Objective::kLm);
  Command run_sft = run_train(sft, train::Objective::kSft);
  return [d, s, run_distill, run_lm, run_sft]() {
    return d->parsed() ? run_distill() : s->parsed() ? run_sft() : run_lm();
  };
}

}  // namespace yz::apps
