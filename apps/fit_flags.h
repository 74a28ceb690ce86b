// The conversion-method flags that `convert` and `bench convert` share (issue 17): the latent
// factorization, closed-form refits, layer-local distillation and where the fits read inputs.
#pragma once

#include <CLI/CLI.hpp>
#include <string>

#include "convert/layer_fit.h"

namespace yz::apps {

struct FitFlags {
  std::string factorization = "bkv", inputs = "original";
  FitOptions fit;
  int64_t plan_local_steps = -1;  // -1: the same as --local-steps
};
void add_fit_flags(CLI::App& app, FitFlags& flags);
// The options the flags spell (usage errors for unknown names, an error for negative counts).
FitOptions fit_options(const FitFlags& flags);
// --plan-local-steps, or --local-steps when it was not given.
int64_t plan_local_steps(const FitFlags& flags);

}  // namespace yz::apps
