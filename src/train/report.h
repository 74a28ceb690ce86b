// What a training run reports: the JSONL log (one object per optimizer step, one per
// evaluation), kept consistent with the checkpoint a run resumes from, and the SVG loss curve.
#pragma once

#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "util/fs.h"

namespace yz::train {

class TrainLog {
 public:
  // Opens `path` for appending. `keep_through_step` >= 0 first drops every record of a later
  // step (what a run killed after its last checkpoint had written), so that a resumed run's log
  // equals an uninterrupted one's; < 0 starts an empty log.
  TrainLog(const fs::path& path, int64_t keep_through_step);
  ~TrainLog();
  TrainLog(const TrainLog&) = delete;
  TrainLog& operator=(const TrainLog&) = delete;
  void write(const nlohmann::ordered_json& record);  // one line, flushed
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
  std::FILE* file_ = nullptr;
};

// Every record of a log file.
std::vector<nlohmann::json> read_log(const fs::path& path);

// Training loss against step (and each evaluation's perplexity, on a log scale, in a second
// panel), from the log's records.
std::string loss_curve_svg(const std::vector<nlohmann::json>& records, const std::string& title);

}  // namespace yz::train
