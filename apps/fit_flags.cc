// Conversion-method flags (see fit_flags.h).
#include "apps/fit_flags.h"

#include "util/error.h"

namespace yz::apps {

void add_fit_flags(CLI::App& app, FitFlags& f) {
  app.add_option("--factorization", f.factorization,
                 "Latent basis: bkv (TransMLA's balanced-KV PCA, default) or whitened "
                 "(output-aware: query-weighted key error, value error through o_proj)");
  app.add_flag("--refit", f.fit.refit,
               "Closed-form float64 least-squares refits against the original layer: kv_b value "
               "block and o_proj (and, with converted inputs, q_proj and kv_a)");
  app.add_option("--local-steps", f.fit.local_steps,
                 "Layer-local distillation: Adam steps per layer on its attention weights");
  app.add_option("--local-lr", f.fit.local_lr, "Distillation step relative to each tensor's RMS");
  app.add_option("--fit-inputs", f.inputs,
                 "Layer inputs of refits and distillation: original (the original model's) or "
                 "converted (the converted prefix's)");
  app.add_option("--plan-local-steps", f.plan_local_steps,
                 "Local steps inside adaptive plan profiles (default: --local-steps)");
}

FitOptions fit_options(const FitFlags& f) {
  FitOptions o = f.fit;
  o.factorization = parse_factorization(f.factorization);
  o.inputs = parse_fit_inputs(f.inputs);
  YZ_CHECK(o.local_steps >= 0, "--local-steps must be >= 0, not ", o.local_steps);
  YZ_CHECK(f.plan_local_steps >= -1, "--plan-local-steps must be >= 0, not ", f.plan_local_steps);
  YZ_CHECK(o.local_lr > 0, "--local-lr must be positive, not ", o.local_lr);
  return o;
}

int64_t plan_local_steps(const FitFlags& f) {
  return f.plan_local_steps >= 0 ? f.plan_local_steps : f.fit.local_steps;
}

}  // namespace yz::apps
