// `youzhi bench convert`: uniform vs layer-adaptive conversion at one KV budget (issue #5);
// `youzhi bench throughput` and `youzhi bench serve` live in cmd_bench_throughput.cc and
// cmd_bench_serve.cc.
#include <cstdio>

#include "apps/commands.h"
#include "apps/fit_flags.h"
#include "convert/bench_convert.h"
#include "model/causal_lm.h"
#include "util/error.h"

namespace yz::apps {

Command add_bench(CLI::App& app) {
  app.require_subcommand(1);
  CLI::App* conv = app.add_subcommand(
      "convert", "At one KV budget: original, TransMLA default, best uniform fold, adaptive fold, "
                 "adaptive budget and, with a method (--factorization, --refit, --local-steps), the "
                 "best uniform fold with each of its stages and the budget plan with all; ppl, "
                 "ΔPPL and R over seeds");
  struct Opts {
    ConvertBenchRequest req;
    std::string model, out, device = "cpu";
    bool overwrite = false;
    FitFlags fit;
  };
  auto o = std::make_shared<Opts>();
  conv->add_option("--model", o->model, "GQA model directory")->required();
  conv->add_option("--kv-budget", o->req.kv_budget, "KV cache budget (fraction of the GQA cache)")
      ->required();
  conv->add_option("--calib", o->req.calib, "Calibration text")->required();
  conv->add_option("--select", o->req.select, "Selection text (held out from calibration and eval)")
      ->required();
  conv->add_option("--eval-file", o->req.eval_files, "Held-out evaluation text")->required();
  conv->add_option("--seeds", o->req.seeds, "Calibration / selection seeds");
  conv->add_option("--calib-samples", o->req.calibration.samples, "Calibration windows");
  conv->add_option("--calib-len", o->req.calibration.length, "Tokens per calibration window");
  conv->add_option("--select-samples", o->req.selection.samples, "Selection windows");
  conv->add_option("--select-len", o->req.selection.length,
                   "Tokens per selection window (select at the context you serve)");
  conv->add_option("--eval-ctx", o->req.eval_ctx, "Perplexity window");
  conv->add_option("--eval-chunks", o->req.eval_chunks, "Windows per eval file at most");
  conv->add_option("--rope-dim", o->req.rope_dim, "Uniform d_r (default head_dim / 2)");
  conv->add_option("--profile-cache", o->req.profile_cache, "Directory caching sensitivity profiles");
  conv->add_option("--device", o->device, "cpu or cuda[:N]");
  conv->add_option("--out", o->out, "RESULTS.json (RESULTS.md and RESULTS.svg beside it)")->required();
  conv->add_flag("--overwrite", o->overwrite, "Replace existing result files");
  add_fit_flags(*conv, o->fit);
  Command throughput = add_bench_throughput(app);
  Command online = add_bench_serve(app);
  CLI::App* serve = app.get_subcommand("serve");
  return [o, conv, throughput, online, serve]() {
    if (serve->parsed()) return online();
    if (!conv->parsed()) return throughput();
    YZ_CHECK(o->overwrite || !fs::exists(o->out), "output ", o->out,
             " already exists; pass --overwrite to replace it");
    ConvertBenchRequest r = o->req;
    r.model = o->model;
    r.out = o->out;
    r.device = parse_device(o->device);
    r.fit = fit_options(o->fit);
    r.plan_local_steps = plan_local_steps(o->fit);
    nlohmann::ordered_json res = run_convert_bench(r);
    std::printf("%s", bench_markdown(res).c_str());
    std::printf("wrote %s (+ .md, .svg)\n", o->out.c_str());
    return 0;
  };
}

}  // namespace yz::apps
