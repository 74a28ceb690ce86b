// The training run directory: a model directory that loads in every youzhi command (the
// student's config.json and tokenizer files copied unchanged, weights replaced at every save), plus
// train/ with the run's settings, the JSONL log, the loss curve and the checkpoints
//   OUT/config.json, tokenizer.json, ..., model.safetensors
//   OUT/train/args.json, log.jsonl, loss.svg
//   OUT/train/ckpt-000100/{trainable,optimizer}.safetensors, state.json, checksums.json
// A checkpoint holds everything a bit-identical resume needs: float32 master weights of the
// trainable parameters, AdamW's moments and step, the step, tokens and data cursor (every random
// draw is a function of the seed and the step, so that is the RNG state). It is written into a
// staging directory and renamed into place (util/fs.h StagedDir); checksums.json (CRC-64 of
// every file) lets a resumed run detect a damaged checkpoint and fall back to the previous one.
#pragma once

#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "model/causal_lm.h"
#include "train/data.h"
#include "train/model_state.h"
#include "train/optim.h"
#include "util/fs.h"

namespace yz::train {

struct TrainState {
  int64_t step = 0;    // optimizer steps done
  int64_t tokens = 0;  // tokens trained on (all ranks)
  DataCursor cursor;   // where the next step's rows start
};

nlohmann::json state_to_json(const TrainState& s);
TrainState state_from_json(const nlohmann::json& j, const std::string& source);

// Creates OUT for a fresh run, atomically: the student's config and tokenizer files, its weights
// (hard links where possible: files here are only ever replaced, never written in place) and
// train/args.json. Refuses an existing OUT unless `overwrite`; refuses OUT inside an input.
void create_run_dir(const fs::path& out, const fs::path& student, const nlohmann::json& args,
                    bool overwrite, const std::vector<fs::path>& inputs);

// Writes ckpt-<step> and keeps the `keep` newest (0 = all).
void save_checkpoint(const fs::path& out, const TrainableParams& trainable, const AdamW& optimizer,
                     const TrainState& state, int64_t keep);

// The newest checkpoint whose checksums verify, loaded into `trainable` (masters) and `optimizer`;
// each damaged one is reported through `warn` and skipped. nullopt when there is none.
std::optional<TrainState> load_latest_checkpoint(const fs::path& out, TrainableParams& trainable,
                                                 AdamW& optimizer,
                                                 const std::function<void(const std::string&)>& warn);

// Replaces OUT's weights with the model's, in the dtype of each tensor in the student checkpoint,
// as one model.safetensors (renamed into place; a sharded original's index and shards go after).
void export_weights(const fs::path& out, const fs::path& student, CausalLm& lm);

}  // namespace yz::train
