// Calibration sampling (see calibration.h).
#include "convert/calibration.h"

#include <algorithm>
#include <random>

#include "util/error.h"
#include "util/text_file.h"

namespace yz {

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
