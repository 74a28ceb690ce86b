// The conversion benchmark (see bench_convert.h).
#include "convert/bench_convert.h"

#include <algorithm>
#include <cmath>
#include <sstream>

#include "convert/planner.h"
#include "util/error.h"
#include "util/json_file.h"
#include "util/safetensors.h"
#include "util/text_file.h"

namespace yz {

namespace {

constexpr const char* kSelection = "selection";  // eval-set name of the selection windows

struct Scored {
  nlohmann::ordered_json report;  // convert_stream's
  double selection_ppl = 0;
};

// Converts in memory with `plan` and scores every eval set plus the selection windows (and the
// original model on them when `with_original`: once per seed is enough, only the selection
// windows change with the seed).
Scored score(CausalLm& gqa, const nlohmann::json& cfg, const MlaPlan& plan,
             const ConversionData& base, const torch::Tensor& select, bool progress,
             bool with_original, const FitOptions& fit = {}) {
  ConversionData d = base;
  d.eval.emplace_back(kSelection, select);
  ConversionOptions o;
  o.device = gqa->model->embed_tokens->weight.device();
  o.progress = progress;
  o.score_original = with_original;
  o.fit = fit;
  Scored s;
  s.report = convert_stream(module_source(gqa, cfg), plan, d,
                            [](const std::string&, const torch::Tensor&) {}, o);
  s.selection_ppl = s.report["ppl"]["final"][kSelection].get<double>();
  return s;
}

nlohmann::ordered_json method_json(const Scored& s, const std::vector<std::string>& files,
                                   const nlohmann::ordered_json& original) {
  nlohmann::ordered_json m;
  m["kv_elements_per_token"] = s.report["kv_elements_per_token"]["after"];
  for (const auto& f : files) {
    const double p = s.report["ppl"]["final"][f].get<double>();
    m["ppl"][f] = p;
    m["delta_ppl"][f] = p - original[f].get<double>();
  }
  m["selection_ppl"] = s.selection_ppl;
  m["plan"] = {{"qk_rope_head_dim", s.report["plan"]["qk_rope_head_dim"]},
               {"kv_lora_rank", s.report["plan"]["kv_lora_rank"]},
               {"freqfold", s.report["plan"]["freqfold"]}};
  m["fit"] = s.report["fit"];
  m["convert_s"] = s.report["phases"]["convert"]["wall_s"];
  return m;
}

// The "+" rows of a method: its stages added one at a time to the best uniform fold.
std::vector<std::pair<std::string, FitOptions>> method_stages(const FitOptions& fit) {
  std::vector<std::pair<std::string, FitOptions>> out;
  FitOptions o = fit;
  o.refit = false;
  o.local_steps = 0;
  std::string name = "uniform_best";
  if (o.factorization != Factorization::kBalancedPca) {
    name += std::string("+") + factorization_name(o.factorization);
    out.emplace_back(name, o);
  }
  if (fit.refit) {
    o.refit = true;
    out.emplace_back(name += "+refit", o);
  }
  if (fit.local_steps > 0) {
    o.local_steps = fit.local_steps;
    out.emplace_back(name += "+local", o);
  }
  return out;
}

std::pair<double, double> mean_std(const std::vector<double>& v) {
  double m = 0, s = 0;
  for (double x : v) m += x;
  m /= static_cast<double>(v.size());
  for (double x : v) s += (x - m) * (x - m);
  return {m, v.size() > 1 ? std::sqrt(s / static_cast<double>(v.size() - 1)) : 0.0};
}

}  // namespace

nlohmann::ordered_json run_convert_bench(const ConvertBenchRequest& r) {
  YZ_CHECK(r.seeds >= 1, "--seeds must be at least 1");
  YZ_CHECK(!r.select.empty(), "--select is required (the selection split, held out from --calib "
           "and every --eval-file)");
  YZ_CHECK(!r.eval_files.empty(), "give at least one --eval-file");
  for (const auto& e : r.eval_files) {
    for (const auto& s : r.select)
      YZ_CHECK(!same_file(e, s), "--select ", s.string(), " is also an --eval-file");
    for (const auto& c : r.calib)
      YZ_CHECK(!same_file(e, c), "--calib ", c.string(), " is also an --eval-file");
  }
  if (!r.out.empty()) {
    YZ_CHECK(!r.out.parent_path().empty() ? fs::is_directory(r.out.parent_path()) : true,
             "--out ", r.out.string(), ": directory does not exist");
  }
  const ModelConfig cfg = load_config(r.model);
  const nlohmann::json cfg_json = read_json_file(r.model / "config.json");
  const int64_t L = cfg.num_hidden_layers, D = cfg.head_dim;
  const int64_t k = budget_elements_per_layer(cfg, r.kv_budget);
  const int64_t d_r = r.rope_dim > 0 ? r.rope_dim : D / 2;
  MlaPlan uniform{d_r, k - d_r, {D / d_r}, 1.0};
  validate_plan(cfg, per_layer_plan(uniform, L));
  tok::Tokenizer tk = tok::Tokenizer::from_file(r.model);
  ConversionData base;
  std::vector<std::string> files;
  for (const auto& f : r.eval_files) {
    files.push_back(f.filename().string());
    base.eval.emplace_back(files.back(), eval_windows(tk, f, r.eval_ctx, r.eval_chunks));
  }
  CausalLm gqa = load_causal_lm(r.model, {r.device, torch::kFloat});
  const std::vector<int64_t> folds = freqfold_choices(cfg, d_r);
  const int64_t default_fold =
      std::find(folds.begin(), folds.end(), 4) != folds.end() ? 4 : folds.back();
  const std::string cache_key = fs::weakly_canonical(r.model).string() + "|" +
                                std::to_string(Checkpoint(r.model).num_bytes());
  const auto stages = method_stages(r.fit);
  std::vector<std::string> rows = {"original", "transmla_default", "uniform_best", "adaptive_fold",
                                   "adaptive_budget"};
  for (const auto& st : stages) rows.push_back(st.first);
  if (!stages.empty()) rows.push_back("adaptive_budget+fit");

  nlohmann::ordered_json out;
  out["model"] = r.model.string();
  out["kv_budget"] = r.kv_budget;
  out["kv_elements_per_layer"] = k;
  out["kv_elements_per_token"] = {{"original", cfg.kv_elements_per_token()}, {"converted", k * L}};
  out["settings"] = {{"rope_dim", d_r}, {"kv_lora_rank", k - d_r}, {"transmla_default_freqfold", default_fold},
                     {"calibration", {{"samples", r.calibration.samples}, {"length", r.calibration.length}}},
                     {"selection", {{"samples", r.selection.samples}, {"length", r.selection.length}}},
                     {"eval_ctx", r.eval_ctx}, {"eval_chunks", r.eval_chunks}, {"seeds", r.seeds},
                     {"fit", r.fit.key()}, {"plan_local_steps", r.plan_local_steps}};
  nlohmann::ordered_json runs = nlohmann::ordered_json::array();
  for (int s = 0; s < r.seeds; ++s) {
    CalibrationOptions co = r.calibration, so = r.selection;
    co.seed = r.calibration.seed + static_cast<uint64_t>(s);
    so.seed = r.selection.seed + static_cast<uint64_t>(s);
    ConversionData data = base;
    data.calib = sample_calibration(tk, r.calib, co);
    const torch::Tensor select = sample_calibration(tk, r.select, so);
    if (r.progress) std::fprintf(stderr, "== seed %d: uniform folds\n", s);
    nlohmann::ordered_json run, methods;
    run["seed"] = co.seed;
    nlohmann::ordered_json original, uniform_scores = nlohmann::ordered_json::object();
    size_t best = 0;
    std::vector<Scored> unif;
    for (size_t i = 0; i < folds.size(); ++i) {
      MlaPlan p = uniform;
      p.freqfold = {folds[i]};
      unif.push_back(score(gqa, cfg_json, p, data, select, r.progress, /*with_original=*/i == 0));
      uniform_scores[std::to_string(folds[i])] = unif.back().selection_ppl;
      if (unif[i].selection_ppl < unif[best].selection_ppl) best = i;
    }
    original = unif[0].report["ppl"]["original"];
    nlohmann::ordered_json orig = {{"kv_elements_per_token", cfg.kv_elements_per_token()}};
    for (const auto& f : files) orig["ppl"][f] = original[f], orig["delta_ppl"][f] = 0.0;
    orig["selection_ppl"] = original[kSelection];
    methods["original"] = orig;
    const size_t def = static_cast<size_t>(std::find(folds.begin(), folds.end(), default_fold) - folds.begin());
    methods["transmla_default"] = method_json(unif[def], files, original);
    methods["uniform_best"] = method_json(unif[best], files, original);
    run["uniform_selection_ppl"] = uniform_scores;
    auto plan = [&](AdaptiveMode mode, const FitOptions& fit) {
      PlanRequest pr;
      pr.mode = mode;
      pr.elements_per_layer = k;
      pr.rope_dim = d_r;
      pr.profile_cache = r.profile_cache;
      pr.cache_key = cache_key;
      pr.progress = r.progress;
      pr.fit = fit;
      pr.fit.seed = co.seed;
      return plan_adaptive(gqa, cfg_json, data.calib, select, pr);
    };
    for (AdaptiveMode mode : {AdaptiveMode::kFold, AdaptiveMode::kBudget}) {
      if (r.progress) std::fprintf(stderr, "== seed %d: adaptive %s\n", s, adaptive_mode_name(mode));
      AdaptivePlan ap = plan(mode, {});
      Scored sc = score(gqa, cfg_json, ap.plan, data, select, r.progress, /*with_original=*/false);
      nlohmann::ordered_json m = method_json(sc, files, original);
      m["planner"] = ap.report;
      m["planner"].erase("profiles");
      if (s == 0) run["profiles"][adaptive_mode_name(mode)] = ap.report["profiles"];
      methods[std::string("adaptive_") + adaptive_mode_name(mode)] = m;
    }
    FitOptions fit = r.fit;
    fit.seed = co.seed;
    for (const auto& [name, o] : stages) {
      if (r.progress) std::fprintf(stderr, "== seed %d: %s\n", s, name.c_str());
      FitOptions so = o;
      so.seed = co.seed;
      MlaPlan p = uniform;
      p.freqfold = {folds[best]};
      methods[name] = method_json(score(gqa, cfg_json, p, data, select, r.progress, false, so),
                                  files, original);
    }
    if (!stages.empty()) {
      if (r.progress) std::fprintf(stderr, "== seed %d: adaptive budget + fit\n", s);
      FitOptions in_plan = fit;
      in_plan.local_steps = r.plan_local_steps;
      AdaptivePlan ap = plan(AdaptiveMode::kBudget, in_plan);
      nlohmann::ordered_json m =
          method_json(score(gqa, cfg_json, ap.plan, data, select, r.progress, false, fit), files,
                      original);
      m["planner"] = ap.report;
      m["planner"].erase("profiles");
      methods["adaptive_budget+fit"] = m;
    }
    for (const auto& name : rows) {
      if (name == "original" || name == "transmla_default" || name == "uniform_best") continue;
      for (const auto& f : files) {
        const double du = methods["uniform_best"]["delta_ppl"][f].get<double>();
        const double da = methods[name]["delta_ppl"][f].get<double>();
        methods[name]["reduction_vs_uniform"][f] = du != 0 ? (du - da) / du : 0.0;
      }
    }
    run["methods"] = methods;
    runs.push_back(run);
  }
  out["runs"] = runs;
  // Summary over seeds: ppl and ΔPPL per method and file, R per adaptive method and file.
  nlohmann::ordered_json summary;
  for (const std::string& m : rows) {
    summary[m]["kv_elements_per_token"] = runs[0]["methods"][m]["kv_elements_per_token"];
    for (const auto& f : files) {
      std::vector<double> p, d, red;
      for (const auto& run : runs) {
        p.push_back(run["methods"][m]["ppl"][f].get<double>());
        d.push_back(run["methods"][m]["delta_ppl"][f].get<double>());
        if (run["methods"][m].contains("reduction_vs_uniform"))
          red.push_back(run["methods"][m]["reduction_vs_uniform"][f].get<double>());
      }
      auto [pm, ps] = mean_std(p);
      auto [dm, ds] = mean_std(d);
      summary[m]["ppl"][f] = {{"mean", pm}, {"std", ps}};
      summary[m]["delta_ppl"][f] = {{"mean", dm}, {"std", ds}};
      if (!red.empty()) {
        auto [rm, rs] = mean_std(red);
        summary[m]["reduction_vs_uniform"][f] = {
            {"mean", rm}, {"std", rs}, {"min", *std::min_element(red.begin(), red.end())},
            {"max", *std::max_element(red.begin(), red.end())}};
      }
    }
  }
  out["summary"] = summary;
  out["eval_files"] = files;
  if (!r.out.empty()) {
    write_file_atomic(r.out, out.dump(2) + "\n");
    fs::path md = r.out, svg = r.out;
    write_file_atomic(md.replace_extension(".md"), bench_markdown(out));
    write_file_atomic(svg.replace_extension(".svg"), bench_svg(out));
  }
  return out;
}

std::string bench_markdown(const nlohmann::ordered_json& res) {
  std::ostringstream s;
  char buf[256];
  const auto& files = res["eval_files"];
  s << "KV budget " << res["kv_budget"].get<double>() << " of the GQA cache: "
    << res["kv_elements_per_token"]["converted"].get<int64_t>() << " vs "
    << res["kv_elements_per_token"]["original"].get<int64_t>() << " elements per token; "
    << res["runs"].size() << " seed(s), mean ± std.\n\n| method | KV elem/token |";
  for (const auto& f : files) s << " ppl " << f.get<std::string>() << " | ΔPPL | R |";
  s << "\n|---|---|";
  for (size_t i = 0; i < files.size(); ++i) s << "---|---|---|";
  s << "\n";
  for (const auto& [name, m] : res["summary"].items()) {
    s << "| " << name << " | " << m["kv_elements_per_token"].get<int64_t>() << " |";
    for (const auto& fj : files) {
      const std::string f = fj.get<std::string>();
      std::snprintf(buf, sizeof(buf), " %.2f ± %.2f | %.2f | ", m["ppl"][f]["mean"].get<double>(),
                    m["ppl"][f]["std"].get<double>(), m["delta_ppl"][f]["mean"].get<double>());
      s << buf;
      if (m.contains("reduction_vs_uniform")) {
        std::snprintf(buf, sizeof(buf), "%.2f ± %.2f", m["reduction_vs_uniform"][f]["mean"].get<double>(),
                      m["reduction_vs_uniform"][f]["std"].get<double>());
        s << buf;
      }
      s << " |";
    }
    s << "\n";
  }
  return s.str();
}

std::string bench_svg(const nlohmann::ordered_json& res) {
  // Left: per-layer sensitivity (fold profiles of the first seed: ΔNLL per f). Right: the
  // chosen budget plan's cached elements per layer, and each adaptive plan's f per layer.
  const auto& prof = res["runs"][0]["profiles"]["fold"];
  const auto& plan_b = res["runs"][0]["methods"]["adaptive_budget"]["plan"];
  const auto& plan_f = res["runs"][0]["methods"]["adaptive_fold"]["plan"];
  const size_t L = prof.size();
  const double W = 900, H = 360, pad = 50, pw = (W - 3 * pad) / 2, ph = H - 2 * pad;
  double lo = 0, hi = 1e-9;
  for (const auto& row : prof)
    for (const auto& c : row) {
      lo = std::min(lo, c["delta_nll"].get<double>());
      hi = std::max(hi, c["delta_nll"].get<double>());
    }
  std::ostringstream s;
  s << "<svg xmlns='http://www.w3.org/2000/svg' width='" << W << "' height='" << H
    << "' font-family='sans-serif' font-size='11'>\n<rect width='100%' height='100%' fill='white'/>\n";
  s << "<text x='" << pad << "' y='20' font-size='13'>Single-layer sensitivity ΔNLL (fold profiles, seed 0)</text>\n";
  s << "<text x='" << 2 * pad + pw << "' y='20' font-size='13'>Chosen plans: budget r+d_r per layer, f per layer</text>\n";
  const char* colors[] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2"};
  auto x_at = [&](size_t l, double x0) { return x0 + (L > 1 ? pw * l / (L - 1) : pw / 2); };
  auto y_at = [&](double v) { return pad + ph * (hi - v) / (hi - lo); };
  s << "<line x1='" << pad << "' y1='" << y_at(0) << "' x2='" << pad + pw << "' y2='" << y_at(0)
    << "' stroke='#999'/>\n";
  const size_t nf = prof[0].size();
  for (size_t k = 0; k < nf; ++k) {
    s << "<polyline fill='none' stroke='" << colors[k % 7] << "' points='";
    for (size_t l = 0; l < L; ++l) s << x_at(l, pad) << "," << y_at(prof[l][k]["delta_nll"].get<double>()) << " ";
    s << "'/>\n<text x='" << pad + 5 << "' y='" << pad + 14 * (k + 1) << "' fill='" << colors[k % 7]
      << "'>f = " << prof[0][k]["freqfold"].get<int64_t>() << "</text>\n";
  }
  s << "<text x='" << pad << "' y='" << H - 15 << "'>layer 0 … " << L - 1 << "; ΔNLL from "
    << lo << " to " << hi << " nats</text>\n";
  double kmax = 1;
  for (size_t l = 0; l < L; ++l)
    kmax = std::max(kmax, static_cast<double>(plan_b["kv_lora_rank"][l].get<int64_t>() +
                                              plan_b["qk_rope_head_dim"][l].get<int64_t>()));
  const double x0 = 2 * pad + pw, bw = pw / L * 0.7;
  for (size_t l = 0; l < L; ++l) {
    const int64_t r = plan_b["kv_lora_rank"][l].get<int64_t>(), d = plan_b["qk_rope_head_dim"][l].get<int64_t>();
    const double x = x0 + pw * l / L, hr = ph * r / kmax, hd = ph * d / kmax;
    s << "<rect x='" << x << "' y='" << pad + ph - hr - hd << "' width='" << bw << "' height='" << hd
      << "' fill='#ff7f0e'/><rect x='" << x << "' y='" << pad + ph - hr << "' width='" << bw
      << "' height='" << hr << "' fill='#1f77b4'/>\n<text x='" << x << "' y='" << pad + ph + 14
      << "'>f " << plan_b["freqfold"][l].get<int64_t>() << "/" << plan_f["freqfold"][l].get<int64_t>()
      << "</text>\n";
  }
  s << "<text x='" << x0 << "' y='" << H - 15 << "'>blue r, orange d_r (budget plan); labels f budget/fold</text>\n";
  s << "</svg>\n";
  return s.str();
}

}  // namespace yz
