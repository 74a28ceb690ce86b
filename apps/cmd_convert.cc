// `youzhi convert`: GQA checkpoint -> MLA checkpoint (mla_conversion.md §3), `native` (exact,
// our decoder) or `stock` (unmodified DeepSeek-V3 runtimes) target.
#include <cstdio>
#include <nlohmann/json.hpp>

#include "apps/commands.h"
#include "apps/fit_flags.h"
#include "convert/converter.h"
#include "model/config.h"
#include "util/error.h"

namespace yz::apps {

namespace {

void print_report(const nlohmann::ordered_json& r) {
  std::printf("%-6s %-9s %-8s %-11s %-10s %-10s %-10s\n", "layer", "freqfold", "alpha",
              "rope_energy", "pca_energy", "key_err", "value_err");
  for (const auto& l : r["layers"])
    std::printf("%-6lld %-9lld %-8.3f %-11.4f %-10.4f %-10.4f %-10.4f\n",
                static_cast<long long>(l["layer"].get<int64_t>()),
                static_cast<long long>(l["freqfold"].get<int64_t>()), l["alpha"].get<double>(),
                l["rope_energy_kept"].get<double>(), l["pca_energy_kept"].get<double>(),
                l["key_error"].get<double>(), l["value_error"].get<double>());
  if (r.contains("freqfold_search"))
    std::printf("freqfold auto: chose %lld (selection-split step-1 ppl by f: %s)\n",
                static_cast<long long>(r["freqfold_search"]["chosen"].get<int64_t>()),
                r["freqfold_search"]["selection_ppl_partial_rope"].dump().c_str());
  for (auto it = r["ppl"]["original"].begin(); it != r["ppl"]["original"].end(); ++it) {
    const std::string f = it.key();
    std::printf("ppl %-28s original %9.3f  partial_rope %9.3f  final %9.3f", f.c_str(),
                it.value().get<double>(), r["ppl"]["partial_rope"][f].get<double>(),
                r["ppl"]["final"][f].get<double>());
    if (r["ppl"].contains("final_native"))
      std::printf("  (native, before dropping biases / adding norms: %.3f)",
                  r["ppl"]["final_native"][f].get<double>());
    std::printf("\n");
  }
  for (const auto& [name, p] : r["phases"].items())
    std::printf("phase %-16s %8.1f s  peak host RSS %7.1f MiB  peak device %7.1f MiB\n",
                name.c_str(), p["wall_s"].get<double>(), p["peak_rss_bytes"].get<double>() / (1 << 20),
                p["peak_device_bytes"].get<double>() / (1 << 20));
  std::printf("KV cache: %lld -> %lld elements per token (%lld -> %lld bytes in bf16)\n",
              static_cast<long long>(r["kv_elements_per_token"]["before"].get<int64_t>()),
              static_cast<long long>(r["kv_elements_per_token"]["after"].get<int64_t>()),
              static_cast<long long>(r["kv_bytes_per_token_bf16"]["before"].get<int64_t>()),
              static_cast<long long>(r["kv_bytes_per_token_bf16"]["after"].get<int64_t>()));
  if (r["kv_elements_per_token"].contains("unpadded"))
    std::printf("  stock padding to the widest layer: the plan itself caches %lld elements (%lld "
                "bytes); padding costs %lld bytes per token\n",
                static_cast<long long>(r["kv_elements_per_token"]["unpadded"].get<int64_t>()),
                static_cast<long long>(r["kv_bytes_per_token_bf16"]["unpadded"].get<int64_t>()),
                static_cast<long long>(r["kv_bytes_per_token_bf16"]["after"].get<int64_t>() -
                                       r["kv_bytes_per_token_bf16"]["unpadded"].get<int64_t>()));
}

}  // namespace

Command add_convert(CLI::App& app) {
  struct Opts {
    ConvertRequest req;
    std::string model, out, rank = "default", device = "cpu", report;
    std::vector<std::string> freqfold = {"4"};
    std::string target = "native", plan_dtype = "float32";
    FitFlags fit;
    int64_t rope_dim = 0, q_lora_rank = 0, kv_elements = 0;
    double kv_budget = 0;
    bool json = false;
  };
  auto o = std::make_shared<Opts>();
  app.add_option("--model", o->model, "GQA model directory")->required();
  app.add_option("--out", o->out, "Output MLA model directory")->required();
  app.add_option("--kv-lora-rank", o->rank, "Latent rank r, or 'max' (2·G·D − d_r); default 4·d_r");
  app.add_option("--rope-dim", o->rope_dim, "RoPE dims kept d_r (default head_dim / 2)");
  app.add_option("--freqfold", o->freqfold,
                 "FreqFold size f (multiple of head_dim / d_r), one per layer as f1,f2,..., or "
                 "'auto' (TransMLA's greedy doubling on the selection split)")
      ->delimiter(',');
  app.add_option("--q-lora-rank", o->q_lora_rank, "Low-rank query r_q (default: full-rank q_proj)");
  app.add_flag("--latent-norm", o->req.plan.latent_norm,
               "Add kv_a_layernorm (and q_a_layernorm) with weight E[RMS(latent)]");
  app.add_option("--target", o->target, "native (exact, biases kept) or stock (DeepSeek-V3 "
                 "runtimes: no biases, latent norms)");
  app.add_option("--adaptive", o->req.adaptive,
                 "Layer-adaptive plan: fold (per-layer f at uniform d_r, r) or budget (per-layer "
                 "d_r, r, f under the KV budget; `stock` pads every layer to the widest one)");
  app.add_option("--kv-budget", o->kv_budget, "KV cache budget as a fraction of the GQA cache");
  app.add_option("--kv-elements", o->kv_elements, "KV cache budget in elements per token (all layers)");
  app.add_option("--profile-cache", o->req.profile_cache, "Directory caching sensitivity profiles");
  app.add_option("--plan-dtype", o->plan_dtype,
                 "dtype of the planning forwards: float32 (default) or bfloat16 (GPU, 7B-class)");
  app.add_option("--select", o->req.select,
                 "Selection text for --adaptive and --freqfold auto (default: documents held out from --calib)");
  app.add_option("--select-samples", o->req.selection.samples, "Selection windows");
  app.add_option("--select-len", o->req.selection.length, "Tokens per selection window");
  app.add_option("--calib", o->req.calib, "Calibration text files (plain or JSONL)")->required();
  app.add_option("--calib-samples", o->req.calibration.samples, "Calibration samples");
  app.add_option("--calib-len", o->req.calibration.length, "Tokens per calibration sample");
  app.add_option("--seed", o->req.calibration.seed, "Calibration sampling seed");
  app.add_option("--eval-file", o->req.eval_files, "Perplexity files scored at every stage");
  app.add_option("--eval-ctx", o->req.eval_ctx, "Perplexity window");
  app.add_option("--eval-chunks", o->req.eval_chunks, "Windows per eval file at most");
  add_fit_flags(app, o->fit);
  app.add_option("--report", o->report, "Write the report JSON here");
  app.add_option("--device", o->device, "cpu or cuda[:N]");
  app.add_flag("--overwrite", o->req.overwrite, "Replace an existing output directory");
  app.add_flag("--json", o->json, "Print the report as one JSON object");
  return [o]() {
    ConvertRequest r = o->req;
    r.model = o->model;
    r.out = o->out;
    r.device = parse_device(o->device);
    const ModelConfig cfg = load_config(r.model);
    // Defaults mirror the reference setting for D = 128 (r = 512, d_r = 64), scaled to the model.
    r.plan.rope_dim = o->rope_dim > 0 ? o->rope_dim : cfg.head_dim / 2;
    const int64_t rmax = max_kv_lora_rank(cfg, r.plan.rope_dim);
    if (o->rank == "max") r.plan.kv_lora_rank = rmax;
    else if (o->rank == "default") r.plan.kv_lora_rank = std::min(4 * r.plan.rope_dim, rmax);
    else {
      try {
        r.plan.kv_lora_rank = std::stoll(o->rank);
      } catch (const std::exception&) {
        YZ_THROW(ErrorKind::kUsage, "--kv-lora-rank must be an integer or 'max'");
      }
    }
    r.plan.freqfold.clear();
    if (!(o->freqfold.size() == 1 && o->freqfold[0] == "auto")) {
      for (const std::string& f : o->freqfold) {
        size_t used = 0;
        try {
          r.plan.freqfold.push_back(std::stoll(f, &used));
        } catch (const std::exception&) {
        }
        if (used == 0 || used != f.size())
          YZ_THROW(ErrorKind::kUsage, "--freqfold must be an integer, a comma list or 'auto', not '",
                   f, "'");
      }
    }
    if (o->q_lora_rank > 0) r.plan.q_lora_rank = o->q_lora_rank;
    YZ_CHECK(o->kv_budget == 0 || o->kv_elements == 0, "give --kv-budget or --kv-elements, not both");
    if (o->kv_budget > 0) r.kv_elements_per_layer = budget_elements_per_layer(cfg, o->kv_budget);
    if (o->kv_elements > 0) r.kv_elements_per_layer = o->kv_elements / cfg.num_hidden_layers;
    if (r.kv_elements_per_layer > 0) {
      YZ_CHECK(o->rank == "default", "--kv-lora-rank and a KV budget exclude each other");
      r.plan.kv_lora_rank = r.kv_elements_per_layer - r.plan.rope_dim;
    }
    r.plan.target = parse_target(o->target);
    r.fit = fit_options(o->fit);
    r.plan_local_steps = plan_local_steps(o->fit);
    r.plan_dtype = parse_dtype_name(o->plan_dtype);
    nlohmann::ordered_json report = convert_model(r);
    if (!o->report.empty()) write_file_atomic(o->report, report.dump(2) + "\n");
    if (o->json) std::printf("%s\n", report.dump().c_str());
    else print_report(report);
    return 0;
  };
}

}  // namespace yz::apps
