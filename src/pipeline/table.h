// The pipeline's closing table (issue 13): one row per evaluated model with its KV cache size,
// the concurrency the same KV pool serves relative to the original model (original KV elements
// per token / the row's), perplexity on WikiText-2 and held-out SEC filings, accuracy on FPB,
// FiQA-SA and TFNS by both evaluation protocols (log-likelihood / generation) and their mean, and
// the majority-class baselines beside. Written as JSON, markdown and an SVG bar chart.
#pragma once

#include <string>

#include "pipeline/recipe.h"

namespace yz::pipeline {

// `results`: the eval stage's `youzhi eval --out` files, one per row of `eval.models`.
Json final_table(const Recipe& recipe, const Stage& eval, const Json& results);
std::string table_markdown(const Json& table);
std::string table_svg(const Json& table);

}  // namespace yz::pipeline
