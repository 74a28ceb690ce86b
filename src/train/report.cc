// Training log and loss curve (see report.h).
#include "train/report.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <map>
#include <sstream>

#include "util/error.h"

namespace yz::train {

std::vector<nlohmann::json> read_log(const fs::path& path) {
  std::vector<nlohmann::json> out;
  std::ifstream in(path);
  std::string line;
  int64_t n = 0;
  while (std::getline(in, line)) {
    ++n;
    if (line.empty()) continue;
    try {
      out.push_back(nlohmann::json::parse(line));
    } catch (const nlohmann::json::exception&) {
      // A line cut by a kill is the last one; anything else is damage worth naming.
      YZ_CHECK(in.peek() == EOF, path.string(), ": line ", n, " is not JSON");
    }
  }
  return out;
}

TrainLog::TrainLog(const fs::path& path, int64_t keep_through_step) : path_(path) {
  std::string kept;
  if (keep_through_step >= 0 && fs::exists(path))
    for (const auto& r : read_log(path))
      if (r.value("step", int64_t{0}) <= keep_through_step) kept += r.dump() + "\n";
  write_file_atomic(path, kept);
  file_ = std::fopen(path.c_str(), "a");
  if (file_ == nullptr) YZ_THROW(ErrorKind::kIo, path.string(), ": cannot open for writing");
}

TrainLog::~TrainLog() {
  if (file_ != nullptr) std::fclose(file_);
}

void TrainLog::write(const nlohmann::ordered_json& record) {
  const std::string line = record.dump() + "\n";
  if (std::fwrite(line.data(), 1, line.size(), file_) != line.size() || std::fflush(file_) != 0)
    YZ_THROW(ErrorKind::kIo, path_.string(), ": write failed");
}

std::string loss_curve_svg(const std::vector<nlohmann::json>& records, const std::string& title) {
  std::vector<std::pair<double, double>> loss;                    // (step, loss)
  std::map<std::string, std::vector<std::pair<double, double>>> ppl;  // file -> (step, ppl)
  for (const auto& r : records) {
    const double step = r.value("step", 0.0);
    if (r.contains("loss")) loss.emplace_back(step, r["loss"].get<double>());
    if (r.contains("eval"))
      for (auto it = r["eval"].begin(); it != r["eval"].end(); ++it)
        ppl[it.key()].emplace_back(step, it.value().get<double>());
  }
  const double W = 900, H = 360, pad = 55, pw = (W - 3 * pad) / 2, ph = H - 2 * pad;
  double smax = 1;
  for (const auto& p : loss) smax = std::max(smax, p.first);
  for (const auto& [f, pts] : ppl)
    for (const auto& p : pts) smax = std::max(smax, p.first);
  std::ostringstream s;
  s << "<svg xmlns='http://www.w3.org/2000/svg' width='" << W << "' height='" << H
    << "' font-family='sans-serif' font-size='11'>\n<rect width='100%' height='100%' fill='white'/>\n"
    << "<text x='" << pad << "' y='20' font-size='13'>" << title << "</text>\n";
  // One panel: axes, labels and a polyline per series; `logy` plots log10 of the values.
  auto panel = [&](double x0, const char* label,
                   const std::vector<std::pair<std::string, std::vector<std::pair<double, double>>>>& series,
                   bool logy) {
    double lo = 1e300, hi = -1e300;
    auto f = [&](double v) { return logy ? std::log10(std::max(v, 1e-12)) : v; };
    for (const auto& [name, pts] : series)
      for (const auto& p : pts) lo = std::min(lo, f(p.second)), hi = std::max(hi, f(p.second));
    if (lo > hi) return;
    if (hi - lo < 1e-9) hi = lo + 1;
    auto x_at = [&](double step) { return x0 + pw * step / smax; };
    auto y_at = [&](double v) { return pad + ph * (hi - f(v)) / (hi - lo); };
    s << "<rect x='" << x0 << "' y='" << pad << "' width='" << pw << "' height='" << ph
      << "' fill='none' stroke='#999'/>\n<text x='" << x0 << "' y='" << pad - 8 << "'>" << label
      << "</text>\n<text x='" << x0 << "' y='" << H - 18 << "'>step 0 … " << smax << "; "
      << (logy ? std::pow(10, lo) : lo) << " … " << (logy ? std::pow(10, hi) : hi) << "</text>\n";
    const char* colors[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd"};
    size_t k = 0;
    for (const auto& [name, pts] : series) {
      const char* c = colors[k % 5];
      s << "<polyline fill='none' stroke='" << c << "' points='";
      for (const auto& p : pts) s << x_at(p.first) << "," << y_at(p.second) << " ";
      s << "'/>\n";
      if (pts.size() < 50)
        for (const auto& p : pts)
          s << "<circle cx='" << x_at(p.first) << "' cy='" << y_at(p.second) << "' r='2.5' fill='" << c << "'/>\n";
      s << "<text x='" << x0 + 6 << "' y='" << pad + 14 * (k + 1) << "' fill='" << c << "'>" << name
        << "</text>\n";
      ++k;
    }
  };
  panel(pad, "training loss", {{"loss", loss}}, false);
  panel(2 * pad + pw, "held-out perplexity (log scale)", {ppl.begin(), ppl.end()}, true);
  s << "</svg>\n";
  return s.str();
}

}  // namespace yz::train
