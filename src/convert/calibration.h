// Calibration text for conversion: documents from plain-text (blank-line separated) or JSONL
// (`text` field) files, shuffled with the seed, joined with "\n\n" and cut into samples of
// exactly `length` tokens (mla_conversion.md §3.0). Too little text is an error, not a repeat.
#pragma once

#include <torch/torch.h>

#include <string>
#include <vector>

#include "tokenizer/tokenizer.h"
#include "util/fs.h"

namespace yz {

struct CalibrationOptions {
  int64_t samples = 128;
  int64_t length = 256;
  uint64_t seed = 42;
};

// [samples, length] int64 token ids.
torch::Tensor sample_calibration(const tok::Tokenizer& tokenizer, const std::vector<fs::path>& files,
                                 const CalibrationOptions& options);

// Consecutive non-overlapping windows of `ctx` tokens of a text file (at most `max_chunks`,
// 0 = all): [chunks, ctx] int64, as perplexity scores them. Errors name the file.
torch::Tensor eval_windows(const tok::Tokenizer& tokenizer, const fs::path& file, int64_t ctx,
                           int64_t max_chunks);

// Calibration and a selection split (for choosing FreqFold) from disjoint documents of the same
// files: calibration takes documents from the front of the seeded shuffle, selection from the
// back. An error when the text cannot hold both.
struct CalibrationSplit {
  torch::Tensor calib;   // [calib.samples, calib.length]
  torch::Tensor select;  // [select.samples, select.length]
};
CalibrationSplit sample_calibration_split(const tok::Tokenizer& tokenizer,
                                          const std::vector<fs::path>& files,
                                          const CalibrationOptions& calib,
                                          const CalibrationOptions& select);

}  // namespace yz
