// SentencePiece model reading and conversion (see sentencepiece.h). The protobuf wire format is
// decoded by hand: the schema (sentencepiece_model.proto) needs four fields of two messages.
#include "tokenizer/sentencepiece.h"

#include <algorithm>
#include <cstring>
#include <map>
#include <unordered_map>

#include "tokenizer/unicode.h"
#include "util/error.h"

namespace yz::tok {

namespace {

class Reader {
 public:
  Reader(const std::string& bytes, size_t begin, size_t end, const std::string& source)
      : s_(bytes), pos_(begin), end_(end), source_(source) {}
  bool done() const { return pos_ >= end_; }
  uint64_t varint() {
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      YZ_CHECK(pos_ < end_, source_, ": truncated SentencePiece model (varint)");
      uint8_t b = static_cast<uint8_t>(s_[pos_++]);
      v |= static_cast<uint64_t>(b & 0x7f) << shift;
      if (!(b & 0x80)) return v;
    }
    YZ_CHECK(false, source_, ": malformed varint in SentencePiece model");
  }
  // Returns [begin, end) of a length-delimited field.
  std::pair<size_t, size_t> bytes() {
    uint64_t n = varint();
    YZ_CHECK(n <= end_ - pos_, source_, ": truncated SentencePiece model (field of ", n,
             " bytes)");
    size_t b = pos_;
    pos_ += n;
    return {b, pos_};
  }
  uint32_t fixed32() {
    YZ_CHECK(end_ - pos_ >= 4, source_, ": truncated SentencePiece model (fixed32)");
    uint32_t v;
    std::memcpy(&v, s_.data() + pos_, 4);
    pos_ += 4;
    return v;
  }
  void skip(int wire_type) {
    switch (wire_type) {
      case 0: varint(); break;
      case 1:
        YZ_CHECK(end_ - pos_ >= 8, source_, ": truncated SentencePiece model (fixed64)");
        pos_ += 8;
        break;
      case 2: bytes(); break;
      case 5: fixed32(); break;
      default:
        YZ_CHECK(false, source_, ": not a SentencePiece model (protobuf wire type ", wire_type,
                 " is invalid)");
    }
  }

 private:
  const std::string& s_;
  size_t pos_, end_;
  const std::string& source_;
};

}  // namespace

SentencePieceModel read_sentencepiece_model(const fs::path& path) {
  return parse_sentencepiece_model(read_text_file(path), path.string());
}

SentencePieceModel parse_sentencepiece_model(const std::string& s, const std::string& source) {
  SentencePieceModel model;
  Reader top(s, 0, s.size(), source);
  while (!top.done()) {
    uint64_t key = top.varint();
    int field = static_cast<int>(key >> 3), wire = static_cast<int>(key & 7);
    if (field == 1 && wire == 2) {  // repeated SentencePiece pieces
      auto [b, e] = top.bytes();
      Reader r(s, b, e, source);
      SentencePiece p;
      while (!r.done()) {
        uint64_t k = r.varint();
        int f = static_cast<int>(k >> 3), w = static_cast<int>(k & 7);
        if (f == 1 && w == 2) {
          auto [pb, pe] = r.bytes();
          p.piece = s.substr(pb, pe - pb);
        } else if (f == 2 && w == 5) {
          uint32_t bits = r.fixed32();
          std::memcpy(&p.score, &bits, 4);
        } else if (f == 3 && w == 0) {
          p.type = static_cast<SentencePiece::Type>(r.varint());
        } else {
          r.skip(w);
        }
      }
      model.pieces.push_back(std::move(p));
    } else if ((field == 2 || field == 3) && wire == 2) {  // TrainerSpec / NormalizerSpec
      auto [b, e] = top.bytes();
      Reader r(s, b, e, source);
      while (!r.done()) {
        uint64_t k = r.varint();
        int f = static_cast<int>(k >> 3), w = static_cast<int>(k & 7);
        if (w != 0) {
          r.skip(w);
          continue;
        }
        int64_t v = static_cast<int64_t>(r.varint());
        if (field == 2) {
          if (f == 3) model.model_type = static_cast<int>(v);
          else if (f == 35) model.byte_fallback = v != 0;
          else if (f == 40) model.unk_id = static_cast<int32_t>(v);
          else if (f == 41) model.bos_id = static_cast<int32_t>(v);
          else if (f == 42) model.eos_id = static_cast<int32_t>(v);
          else if (f == 43) model.pad_id = static_cast<int32_t>(v);
        } else if (f == 3) {
          model.add_dummy_prefix = v != 0;
        }
      }
    } else {
      top.skip(wire);
    }
  }
  YZ_CHECK(!model.pieces.empty(), source, ": not a SentencePiece model (no pieces)");
  return model;
}

nlohmann::ordered_json sentencepiece_to_tokenizer_json(const SentencePieceModel& model) {
  using nlohmann::ordered_json;
  YZ_CHECK(model.model_type == 2, "SentencePiece model type ", model.model_type,
           " is not BPE; only BPE models convert to tokenizer.json here");
  const auto& pieces = model.pieces;
  ordered_json vocab = ordered_json::object();
  std::unordered_map<std::string, int32_t> id_of;
  for (size_t i = 0; i < pieces.size(); ++i) {
    vocab[pieces[i].piece] = static_cast<int32_t>(i);
    id_of[pieces[i].piece] = static_cast<int32_t>(i);
  }
  // transformers' SentencePieceExtractor.extract: for every piece, every split into two pieces
  // of the vocabulary (sorted by their ids), all ordered by the merged piece's score
  // (stable, descending).
  struct Merge {
    std::string left, right;
    float score;
  };
  std::vector<Merge> merges;
  for (const auto& p : pieces) {
    std::vector<std::pair<std::pair<int32_t, int32_t>, Merge>> local;
    for (size_t cut = 0; cut < p.piece.size();) {
      int len = utf8_seq_len(static_cast<uint8_t>(p.piece[cut]));
      cut += len;
      if (cut >= p.piece.size()) break;
      std::string l = p.piece.substr(0, cut), r = p.piece.substr(cut);
      auto il = id_of.find(l), ir = id_of.find(r);
      if (il != id_of.end() && ir != id_of.end())
        local.push_back({{il->second, ir->second}, {l, r, p.score}});
    }
    std::sort(local.begin(), local.end(),
              [](const auto& a, const auto& b) { return a.first < b.first; });
    for (auto& m : local) merges.push_back(std::move(m.second));
  }
  std::stable_sort(merges.begin(), merges.end(),
                   [](const Merge& a, const Merge& b) { return a.score > b.score; });
  ordered_json merge_list = ordered_json::array();
  for (const auto& m : merges) merge_list.push_back({m.left, m.right});

  const std::string kSpace = "\xe2\x96\x81";  // U+2581, SentencePiece's whitespace mark
  ordered_json added = ordered_json::array();
  for (size_t i = 0; i < pieces.size(); ++i) {
    auto t = pieces[i].type;
    if (t == SentencePiece::Type::kUnknown || t == SentencePiece::Type::kControl ||
        t == SentencePiece::Type::kUserDefined) {
      added.push_back({{"id", i}, {"content", pieces[i].piece}, {"single_word", false},
                       {"lstrip", false}, {"rstrip", false}, {"normalized", false},
                       {"special", t != SentencePiece::Type::kUserDefined}});
    }
  }
  const std::string unk = pieces.at(model.unk_id).piece;
  ordered_json j;
  j["version"] = "1.0";
  j["truncation"] = nullptr;
  j["padding"] = nullptr;
  j["added_tokens"] = added;
  j["normalizer"] = nullptr;
  j["pre_tokenizer"] = {{"type", "Metaspace"}, {"replacement", kSpace},
                        {"prepend_scheme", model.add_dummy_prefix ? "first" : "never"},
                        {"split", false}};
  ordered_json post = {{"type", "TemplateProcessing"}};
  if (model.bos_id >= 0) {
    const std::string bos = pieces.at(model.bos_id).piece;
    post["single"] = {{{"SpecialToken", {{"id", bos}, {"type_id", 0}}}},
                      {{"Sequence", {{"id", "A"}, {"type_id", 0}}}}};
    post["pair"] = {{{"SpecialToken", {{"id", bos}, {"type_id", 0}}}},
                    {{"Sequence", {{"id", "A"}, {"type_id", 0}}}},
                    {{"SpecialToken", {{"id", bos}, {"type_id", 1}}}},
                    {{"Sequence", {{"id", "B"}, {"type_id", 1}}}}};
    post["special_tokens"] = {{bos, {{"id", bos}, {"ids", {model.bos_id}}, {"tokens", {bos}}}}};
    j["post_processor"] = post;
  } else {
    j["post_processor"] = nullptr;
  }
  j["decoder"] = {{"type", "Sequence"},
                  {"decoders",
                   {{{"type", "Replace"}, {"pattern", {{"String", kSpace}}}, {"content", " "}},
                    {{"type", "ByteFallback"}},
                    {{"type", "Fuse"}},
                    {{"type", "Strip"}, {"content", " "}, {"start", 1}, {"stop", 0}}}}};
  j["model"] = {{"type", "BPE"},          {"dropout", nullptr},
                {"unk_token", unk},       {"continuing_subword_prefix", nullptr},
                {"end_of_word_suffix", nullptr}, {"fuse_unk", true},
                {"byte_fallback", model.byte_fallback}, {"ignore_merges", false},
                {"vocab", vocab},         {"merges", merge_list}};
  return j;
}

}  // namespace yz::tok
