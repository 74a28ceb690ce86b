// Progress reporting for long work: a redrawn bar with rate and ETA on a terminal, a plain line
// every few seconds otherwise (logs, CI). Writes to stderr so stdout stays machine-readable.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace yz {

class Progress {
 public:
  Progress(std::string label, int64_t total, std::string unit = "it", bool enabled = true);
  ~Progress();
  void add(int64_t n = 1);
  void finish();

 private:
  void draw(bool final);
  std::string label_, unit_;
  int64_t total_, done_ = 0;
  bool enabled_, tty_, finished_ = false;
  std::chrono::steady_clock::time_point start_, last_draw_;
};

}  // namespace yz
