// Runs a recipe's stages in order, each as a `youzhi` child process in OUT/<stage>/, and keeps a
// stage.json there: the stage's command line, the CRC-64 of every input (files; the top-level
// files of model directories), the key made of both, its status and its results. A stage whose
// stage.json is complete with the same key is skipped, so a killed pipeline resumes where it
// stopped (a training stage killed mid-way continues from its checkpoint with --resume); a stage
// whose inputs or settings changed is re-run from scratch with a message saying what changed,
// and so is everything downstream of it, whose inputs change with it. Ends with the table.
#pragma once

#include <functional>
#include <string>

#include "pipeline/recipe.h"

namespace yz::pipeline {

struct RunOptions {
  fs::path out;                // run directory (one subdirectory per stage)
  fs::path exe;                // the youzhi binary the stages run
  bool quiet = false;          // no per-stage lines on stderr
};

// Runs (or resumes) the pipeline; returns {"stages": [...], "table": ...} and writes
// OUT/table.{md,json,svg}. A failing stage is an error naming it and its log.
Json run_pipeline(const Recipe& recipe, const RunOptions& options);

// CRC-64 (xz's) of a file, or of a directory's top-level regular files (names and contents),
// as 16 hex digits.
std::string input_hash(const fs::path& path);

}  // namespace yz::pipeline
