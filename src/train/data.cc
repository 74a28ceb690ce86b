// Documents, packing and the masks of packed rows (see data.h).
#include "train/data.h"

#include <algorithm>

#include "util/error.h"
#include "util/text_file.h"

namespace yz::train {

uint64_t mix_seed(uint64_t seed, uint64_t a, uint64_t b, uint64_t c) {
  auto splitmix = [](uint64_t x) {
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
  };
  return splitmix(splitmix(splitmix(splitmix(seed) ^ a) ^ b) ^ c);
}

double uniform01(uint64_t bits) { return static_cast<double>(bits >> 11) * 0x1.0p-53; }

DocSplit parse_doc_split(const std::string& name) {
  if (name == "paragraphs") return DocSplit::kParagraphs;
  if (name == "files") return DocSplit::kFiles;
  YZ_THROW(ErrorKind::kUsage, "unknown --documents '", name, "' (use paragraphs or files)");
}

TextDocuments::TextDocuments(const std::vector<fs::path>& files, const tok::Tokenizer& tokenizer,
                             DocSplit split)
    : tokenizer_(tokenizer) {
  YZ_CHECK(!files.empty(), "no --data files given");
  for (const auto& f : files) {
    YZ_CHECK(fs::is_regular_file(f), "--data ", f.string(), ": no such file");
    std::string name = f.filename().string();
    const bool jsonl = name.find(".jsonl") != std::string::npos;
    std::vector<std::string> docs;
    if (split == DocSplit::kFiles && !jsonl) docs.push_back(read_text_input(f));
    else docs = read_documents(f);
    YZ_CHECK(!docs.empty(), "--data ", f.string(), ": no text");
    docs_.insert(docs_.end(), std::make_move_iterator(docs.begin()),
                 std::make_move_iterator(docs.end()));
  }
}

TokenizedDoc TextDocuments::get(int64_t index) const {
  // No special tokens: a document is its text; boundaries live in the mask, not in separators.
  return {tokenizer_.encode(docs_.at(index), /*add_special_tokens=*/false), {}};
}

PackedRows PackedRows::slice(int64_t begin, int64_t count) const {
  return {ids.narrow(0, begin, count), positions.narrow(0, begin, count),
          segments.narrow(0, begin, count), targets.narrow(0, begin, count)};
}

torch::Tensor next_token_targets(const torch::Tensor& ids, const torch::Tensor& segments,
                                 const torch::Tensor& mask) {
  const int64_t T = ids.size(-1);
  torch::Tensor targets = torch::full_like(ids, kIgnore);
  torch::Tensor next = ids.narrow(-1, 1, T - 1);
  torch::Tensor same = segments.narrow(-1, 1, T - 1) == segments.narrow(-1, 0, T - 1);
  if (mask.defined()) same = same & mask.narrow(-1, 1, T - 1).to(torch::kBool);
  targets.narrow(-1, 0, T - 1).copy_(torch::where(same, next, torch::full_like(next, kIgnore)));
  return targets;
}

torch::Tensor document_mask(const torch::Tensor& segments, const torch::Device& device) {
  if (segments.max().item<int64_t>() == 0) return {};
  const int64_t T = segments.size(1);
  torch::Tensor seg = segments.to(device);
  torch::Tensor same = seg.unsqueeze(2) == seg.unsqueeze(1);                  // [B, T, T]
  torch::Tensor causal = torch::ones({T, T}, torch::dtype(torch::kBool).device(device)).tril();
  return (same & causal).unsqueeze(1);                                          // [B, 1, T, T]
}

int64_t attended_pairs(const torch::Tensor& segments) {
  // A piece of n tokens contributes n(n+1)/2 (query, key) pairs.
  torch::Tensor seg = segments.to(torch::kCPU).contiguous();
  const int64_t B = seg.size(0), T = seg.size(1);
  const int64_t* s = seg.data_ptr<int64_t>();
  int64_t pairs = 0;
  for (int64_t b = 0; b < B; ++b) {
    int64_t run = 0;
    for (int64_t t = 0; t < T; ++t) {
      run = (t > 0 && s[b * T + t] == s[b * T + t - 1]) ? run + 1 : 1;
      pairs += run;
    }
  }
  return pairs;
}

Packer::Packer(const DocumentSource& docs, int64_t seq_len, uint64_t seed)
    : docs_(docs), seq_len_(seq_len), seed_(seed) {
  YZ_CHECK(seq_len >= 2, "--seq-len must be at least 2");
  YZ_CHECK(docs.size() > 0, "the training data holds no documents");
}

void Packer::seek(const DataCursor& cursor) {
  YZ_CHECK(cursor.epoch >= 0 && cursor.doc >= 0 && cursor.doc < docs_.size() && cursor.offset >= 0,
           "data cursor (epoch ", cursor.epoch, ", document ", cursor.doc, ", offset ",
           cursor.offset, ") does not fit data of ", docs_.size(), " documents");
  cursor_ = cursor;
  current_index_ = -1;
}

void Packer::load_current() {
  if (order_epoch_ != cursor_.epoch) {
    const int64_t n = docs_.size();
    order_.resize(n);
    for (int64_t i = 0; i < n; ++i) order_[i] = i;
    for (int64_t i = n - 1; i > 0; --i) {  // Fisher-Yates
      const uint64_t r = mix_seed(seed_, 0xD0C5, static_cast<uint64_t>(cursor_.epoch), i);
      std::swap(order_[i], order_[r % static_cast<uint64_t>(i + 1)]);
    }
    order_epoch_ = cursor_.epoch;
    current_index_ = -1;
  }
  if (current_index_ != cursor_.doc) {
    current_ = docs_.get(order_[cursor_.doc]);
    current_index_ = cursor_.doc;
  }
}

PackedRows Packer::next(int64_t rows) {
  const int64_t T = seq_len_;
  std::vector<int64_t> ids(rows * T), pos(rows * T), seg(rows * T);
  std::vector<uint8_t> mask(rows * T);
  int64_t empty_run = 0;  // consecutive documents without tokens: all of them means no data
  for (int64_t r = 0; r < rows; ++r) {
    int64_t t = 0, piece = 0;
    while (t < T) {
      load_current();
      const int64_t len = static_cast<int64_t>(current_.ids.size());
      const int64_t take = std::min(len - cursor_.offset, T - t);
      for (int64_t i = 0; i < take; ++i) {
        const int64_t k = r * T + t + i, src = cursor_.offset + i;
        ids[k] = current_.ids[src];
        pos[k] = i;
        seg[k] = piece;
        mask[k] = current_.loss_mask.empty() ? 1 : current_.loss_mask[src];
      }
      if (take > 0) {
        ++piece;
        empty_run = 0;
      } else {
        YZ_CHECK(++empty_run <= docs_.size(), "the training data holds no tokens");
      }
      t += take;
      cursor_.offset += take;
      if (cursor_.offset >= len) {  // next document, next epoch after the last one
        cursor_.offset = 0;
        if (++cursor_.doc == docs_.size()) {
          cursor_.doc = 0;
          ++cursor_.epoch;
        }
      }
    }
  }
  auto as_tensor = [&](std::vector<int64_t>& v) {
    return torch::from_blob(v.data(), {rows, T}, torch::kLong).clone();
  };
  PackedRows out;
  out.ids = as_tensor(ids);
  out.positions = as_tensor(pos);
  out.segments = as_tensor(seg);
  out.targets = next_token_targets(
      out.ids, out.segments, torch::from_blob(mask.data(), {rows, T}, torch::kUInt8).clone());
  return out;
}

}  // namespace yz::train
