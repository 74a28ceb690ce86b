// Progress bar / periodic progress lines (see progress.h).
#include "util/progress.h"

#include <unistd.h>

#include <cstdio>

namespace yz {

namespace {
constexpr double kTtyRedrawSeconds = 0.1;
constexpr double kLogLineSeconds = 10.0;

// "12.3 tok/s", or "45.6 s/layer" when one unit takes longer than a second.
std::string rate_text(double rate, const std::string& unit) {
  char buf[64];
  if (rate > 0 && rate < 1) std::snprintf(buf, sizeof(buf), "%.1f s/%s", 1.0 / rate, unit.c_str());
  else std::snprintf(buf, sizeof(buf), "%.1f %s/s", rate, unit.c_str());
  return buf;
}

std::string human_duration(double s) {
  char buf[32];
  if (s < 0 || s > 1e7) return "?";
  int t = static_cast<int>(s + 0.5);
  if (t >= 3600) std::snprintf(buf, sizeof(buf), "%dh%02dm", t / 3600, (t / 60) % 60);
  else std::snprintf(buf, sizeof(buf), "%d:%02d", t / 60, t % 60);
  return buf;
}
}  // namespace

Progress::Progress(std::string label, int64_t total, std::string unit, bool enabled)
    : label_(std::move(label)), unit_(std::move(unit)), total_(total), enabled_(enabled),
      tty_(::isatty(STDERR_FILENO) != 0), start_(std::chrono::steady_clock::now()),
      last_draw_(start_) {
  if (enabled_ && total_ > 0) draw(false);  // say what is starting before the first update
}

Progress::~Progress() { finish(); }

void Progress::add(int64_t n) {
  done_ += n;
  if (!enabled_) return;
  auto now = std::chrono::steady_clock::now();
  double since = std::chrono::duration<double>(now - last_draw_).count();
  if (since >= (tty_ ? kTtyRedrawSeconds : kLogLineSeconds)) {
    last_draw_ = now;
    draw(false);
  }
}

void Progress::finish() {
  if (finished_) return;
  finished_ = true;
  if (enabled_) draw(true);
}

void Progress::draw(bool final) {
  double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  double rate = elapsed > 0 ? done_ / elapsed : 0.0;
  double eta = (rate > 0 && total_ > 0) ? (total_ - done_) / rate : -1;
  double frac = total_ > 0 ? static_cast<double>(done_) / total_ : 0.0;
  if (tty_) {
    constexpr int kWidth = 30;
    int filled = static_cast<int>(frac * kWidth);
    std::string bar(filled, '#');
    bar.resize(kWidth, '.');
    std::fprintf(stderr, "\r%s [%s] %lld/%lld %s %s ETA %s%s", label_.c_str(), bar.c_str(),
                 static_cast<long long>(done_), static_cast<long long>(total_), unit_.c_str(),
                 rate_text(rate, unit_).c_str(), final ? human_duration(elapsed).c_str()
                                            : human_duration(eta).c_str(),
                 final ? " done\n" : "  ");
  } else {
    std::fprintf(stderr, "%s: %lld/%lld %s (%.0f%%), %s, %s %s\n", label_.c_str(),
                 static_cast<long long>(done_), static_cast<long long>(total_), unit_.c_str(),
                 100.0 * frac, rate_text(rate, unit_).c_str(), final ? "took" : "ETA",
                 final ? human_duration(elapsed).c_str() : human_duration(eta).c_str());
  }
  std::fflush(stderr);
}

}  // namespace yz
