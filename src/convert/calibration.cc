// Calibration sampling (see calibration.h).
#include "convert/calibration.h"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>

#include "util/error.h"
#include "util/text_file.h"

namespace yz {

std::vector<std::string> read_documents(const fs::path& path) {
  const std::string text = read_text_input(path);
  std::vector<std::string> docs;
  std::string name = path.filename().string();
  if (name.size() > 3 && name.substr(name.size() - 3) == ".xz") name.resize(name.size() - 3);
  if (name.size() > 6 && name.substr(name.size() - 6) == ".jsonl") {
    std::istringstream in(text);
    std::string line;
    int64_t n = 0;
    while (std::getline(in, line)) {
      ++n;
      if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
      try {
        nlohmann::json j = nlohmann::json::parse(line);
        YZ_CHECK(j.contains("text") && j["text"].is_string(), path.string(), ": line ", n,
                 " has no string \"text\" field");
        if (!j["text"].get<std::string>().empty()) docs.push_back(j["text"].get<std::string>());
      } catch (const nlohmann::json::exception& e) {
        YZ_CHECK(false, path.string(), ": line ", n, " is not JSON (", e.what(), ")");
      }
    }
    return docs;
  }
  // Paragraphs separated by blank lines; a text without them is taken line by line.
  for (const char* sep : {"\n\n", "\n"}) {
    docs.clear();
    const size_t step = std::char_traits<char>::length(sep);
    size_t pos = 0;
    while (pos < text.size()) {
      size_t end = text.find(sep, pos);
      if (end == std::string::npos) end = text.size();
      if (text.find_first_not_of(" \t\r\n", pos) < end) docs.push_back(text.substr(pos, end - pos));
      pos = end + step;
    }
    if (docs.size() > 1) break;
  }
  return docs;
}

namespace {

std::vector<std::string> shuffled_documents(const std::vector<fs::path>& files, uint64_t seed) {
  YZ_CHECK(!files.empty(), "no calibration files given");
  std::vector<std::string> docs;
  for (const auto& f : files) {
    auto more = read_documents(f);
    docs.insert(docs.end(), std::make_move_iterator(more.begin()),
                std::make_move_iterator(more.end()));
  }
  std::mt19937_64 rng(seed);
  std::shuffle(docs.begin(), docs.end(), rng);
  return docs;
}

// Concatenates documents docs[order(0)], docs[order(1)], … joined by "\n\n" until `o` is filled;
// returns [samples, length] and how many documents it used.
std::pair<torch::Tensor, size_t> fill(const tok::Tokenizer& tk, const std::vector<std::string>& docs,
                                      bool from_back, size_t limit, const CalibrationOptions& o,
                                      const char* what) {
  YZ_CHECK(o.samples > 0 && o.length > 1, what, " needs samples > 0 and length > 1");
  const std::vector<int32_t> sep = tk.encode("\n\n", /*add_special_tokens=*/false);
  const int64_t need = o.samples * o.length;
  std::vector<int64_t> ids;
  ids.reserve(need);
  size_t used = 0;
  while (used < limit && static_cast<int64_t>(ids.size()) < need) {
    const std::string& d = docs[from_back ? docs.size() - 1 - used : used];
    ++used;
    std::vector<int32_t> t = tk.encode(d, /*add_special_tokens=*/false);
    ids.insert(ids.end(), t.begin(), t.end());
    ids.insert(ids.end(), sep.begin(), sep.end());
  }
  YZ_CHECK(static_cast<int64_t>(ids.size()) >= need, what, " text is too short: ", ids.size(),
           " tokens in ", used, " documents, ", need, " asked (", o.samples, " samples x ",
           o.length, " tokens)");
  ids.resize(need);
  return {torch::tensor(ids).view({o.samples, o.length}), used};
}

}  // namespace

torch::Tensor sample_calibration(const tok::Tokenizer& tk, const std::vector<fs::path>& files,
                                 const CalibrationOptions& o) {
  const std::vector<std::string> docs = shuffled_documents(files, o.seed);
  return fill(tk, docs, false, docs.size(), o, "calibration").first;
}

torch::Tensor eval_windows(const tok::Tokenizer& tk, const fs::path& file, int64_t ctx,
                           int64_t max_chunks) {
  std::vector<int32_t> ids = tk.encode(read_text_input(file));
  const int64_t n = static_cast<int64_t>(ids.size()) / ctx;
  YZ_CHECK(n > 0, file.string(), ": ", ids.size(), " tokens, fewer than one --eval-ctx window of ",
           ctx);
  const int64_t chunks = max_chunks > 0 ? std::min(n, max_chunks) : n;
  std::vector<int64_t> flat(ids.begin(), ids.begin() + chunks * ctx);
  return torch::tensor(flat).view({chunks, ctx});
}

CalibrationSplit sample_calibration_split(const tok::Tokenizer& tk,
                                          const std::vector<fs::path>& files,
                                          const CalibrationOptions& calib,
                                          const CalibrationOptions& select) {
  const std::vector<std::string> docs = shuffled_documents(files, calib.seed);
  auto [c, used] = fill(tk, docs, false, docs.size(), calib, "calibration");
  // The selection split may only use documents calibration did not touch.
  auto [s, unused] = fill(tk, docs, true, docs.size() - used, select,
                          "selection split (documents held out from calibration)");
  (void)unused;
  return {c, s};
}

}  // namespace yz
