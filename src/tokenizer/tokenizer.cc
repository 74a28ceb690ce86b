// tokenizer.json loading, encoding and decoding (see tokenizer.h).
#include "tokenizer/tokenizer.h"

#include <algorithm>

#include "tokenizer/unicode.h"
#include "util/error.h"
#include "util/json_file.h"

namespace yz::tok {

using nlohmann::json;

namespace {

// Rust's char::is_whitespace (Unicode White_Space), used by lstrip/rstrip of added tokens.
bool is_white_space(uint32_t cp) {
  return (cp >= 0x09 && cp <= 0x0d) || cp == 0x20 || cp == 0x85 || cp == 0xa0 || cp == 0x1680 ||
         (cp >= 0x2000 && cp <= 0x200a) || cp == 0x2028 || cp == 0x2029 || cp == 0x202f ||
         cp == 0x205f || cp == 0x3000;
}

// tokenizers' is_word_character for single_word added tokens: alphanumeric or '_'.
bool is_word_char(uint32_t cp) {
  if (cp < 0x80) return std::isalnum(static_cast<int>(cp)) || cp == '_';
  return !is_white_space(cp);  // non-ASCII letters/digits; punctuation outside ASCII is rare here
}

uint32_t last_cp(std::string_view s, size_t end) {
  size_t i = end;
  while (i > 0 && (static_cast<uint8_t>(s[i - 1]) & 0xc0) == 0x80) --i;
  if (i > 0) --i;
  int len;
  return decode_utf8(s, i, &len);
}

std::vector<std::pair<std::string, std::string>> parse_merges(const json& merges,
                                                              const std::string& src) {
  std::vector<std::pair<std::string, std::string>> out;
  out.reserve(merges.size());
  for (const json& m : merges) {
    if (m.is_array()) {
      YZ_CHECK(m.size() == 2, src, ": a merge must have two parts");
      out.emplace_back(m[0].get<std::string>(), m[1].get<std::string>());
    } else {
      std::string s = m.get<std::string>();
      size_t sp = s.find(' ');
      YZ_CHECK(sp != std::string::npos && s.find(' ', sp + 1) == std::string::npos, src,
               ": merge '", s, "' is not two tokens separated by one space");
      out.emplace_back(s.substr(0, sp), s.substr(sp + 1));
    }
  }
  return out;
}

}  // namespace

Tokenizer Tokenizer::from_file(const fs::path& path) {
  fs::path file = fs::is_directory(path) ? path / "tokenizer.json" : path;
  YZ_CHECK(fs::is_regular_file(file), file.string(), ": no such tokenizer file");
  return Tokenizer(read_json_file(file), file.string());
}

Tokenizer::Tokenizer(const json& spec, const std::string& source) : source_(source) {
  try {
    YZ_CHECK(spec.is_object() && spec.contains("model"), source, ": no \"model\" section");
    const json& m = spec["model"];
    const std::string type = m.value("type", std::string("BPE"));
    YZ_CHECK(type == "BPE", source, ": model type '", type, "' is not supported (BPE only)");
    YZ_CHECK(m.value("continuing_subword_prefix", json()).is_null() ||
                 m["continuing_subword_prefix"].get<std::string>().empty(),
             source, ": BPE continuing_subword_prefix is not supported");
    YZ_CHECK(m.value("end_of_word_suffix", json()).is_null() ||
                 m["end_of_word_suffix"].get<std::string>().empty(),
             source, ": BPE end_of_word_suffix is not supported");
    YZ_CHECK(m.value("dropout", json()).is_null(), source, ": BPE dropout is not supported");

    normalizer_ = parse_normalizer(spec.value("normalizer", json()));
    pre_tokenizer_ = parse_pre_tokenizer(spec.value("pre_tokenizer", json()));
    post_ = parse_post_processor(spec.value("post_processor", json()));
    decoder_ = parse_decoder(spec.value("decoder", json()));
    has_decoder_ = !spec.value("decoder", json()).is_null();

    const json& vocab = m.at("vocab");
    std::vector<std::string> tokens(vocab.size());
    std::vector<bool> filled(vocab.size(), false);
    for (auto it = vocab.begin(); it != vocab.end(); ++it) {
      int64_t id = it.value().get<int64_t>();
      YZ_CHECK(id >= 0 && id < static_cast<int64_t>(tokens.size()) && !filled[id], source,
               ": vocabulary ids must be 0..", tokens.size() - 1, " without repeats (token '",
               it.key(), "' has id ", id, ")");
      tokens[id] = it.key();
      filled[id] = true;
    }
    BpeOptions opts;
    opts.byte_level = is_byte_level(pre_tokenizer_);
    opts.byte_fallback = m.value("byte_fallback", false);
    opts.ignore_merges = m.value("ignore_merges", false);
    opts.fuse_unk = m.value("fuse_unk", false);
    if (m.contains("unk_token") && m["unk_token"].is_string()) {
      auto it = vocab.find(m["unk_token"].get<std::string>());
      YZ_CHECK(it != vocab.end(), source, ": unk_token is not in the vocabulary");
      opts.unk_id = it.value().get<int32_t>();
    }
    model_ = std::make_unique<Bpe>(std::move(tokens), parse_merges(m.at("merges"), source), opts);

    for (const json& a : spec.value("added_tokens", json::array())) {
      AddedToken t;
      t.id = a.at("id").get<int32_t>();
      t.content = a.at("content").get<std::string>();
      t.special = a.value("special", false);
      t.lstrip = a.value("lstrip", false);
      t.rstrip = a.value("rstrip", false);
      t.single_word = a.value("single_word", false);
      t.normalized = a.value("normalized", !t.special);
      YZ_CHECK(!t.content.empty(), source, ": added token ", t.id, " has empty content");
      added_.push_back(t);
      normalized_content_.push_back(t.normalized ? apply_normalizer(normalizer_, t.content)
                                                 : t.content);
    }
  } catch (const json::exception& e) {
    YZ_CHECK(false, source, ": malformed tokenizer (", e.what(), ")");
  } catch (const Error& e) {
    const std::string what = e.what();
    if (what.rfind(source, 0) == 0) throw;
    YZ_CHECK(false, source, ": ", what);
  }
}

void Tokenizer::split_added(std::vector<Segment>* segments, bool normalized_pass) const {
  std::vector<size_t> candidates;
  for (size_t i = 0; i < added_.size(); ++i)
    if (added_[i].normalized == normalized_pass) candidates.push_back(i);
  if (candidates.empty()) return;
  bool first_byte[256] = {};
  for (size_t i : candidates) {
    const std::string& c = normalized_pass ? normalized_content_[i] : added_[i].content;
    first_byte[static_cast<uint8_t>(c[0])] = true;
  }
  std::vector<Segment> out;
  for (Segment& seg : *segments) {
    if (seg.added_id >= 0) {
      out.push_back(std::move(seg));
      continue;
    }
    const std::string& s = seg.text;
    size_t last = 0;  // end of the previous match
    size_t pos = 0;
    while (pos < s.size()) {
      if (!first_byte[static_cast<uint8_t>(s[pos])]) {
        ++pos;
        continue;
      }
      // Leftmost-longest: the longest token starting at the first position where any matches.
      size_t best = SIZE_MAX, best_len = 0;
      for (size_t i : candidates) {
        const std::string& c = normalized_pass ? normalized_content_[i] : added_[i].content;
        if (c.size() > best_len && s.compare(pos, c.size(), c) == 0) {
          best = i;
          best_len = c.size();
        }
      }
      if (best == SIZE_MAX) {
        ++pos;
        continue;
      }
      const AddedToken& t = added_[best];
      size_t b = pos, e = pos + best_len;
      if (t.single_word) {
        bool left_ok = b == 0 || !is_word_char(last_cp(s, b));
        int len = 0;
        bool right_ok = e >= s.size() || !is_word_char(decode_utf8(s, e, &len));
        if (!left_ok || !right_ok) {
          pos = e;  // aho-corasick moves past a rejected match
          continue;
        }
      }
      if (t.lstrip) {
        while (b > last && is_white_space(last_cp(s, b))) {
          size_t k = b - 1;
          while (k > last && (static_cast<uint8_t>(s[k]) & 0xc0) == 0x80) --k;
          b = k;
        }
      }
      if (t.rstrip) {
        int len = 0;
        while (e < s.size() && is_white_space(decode_utf8(s, e, &len))) e += len;
      }
      if (b > last) out.push_back({s.substr(last, b - last), -1, seg.at_start && last == 0});
      out.push_back({"", t.id, false});
      last = pos = e;
    }
    if (last < s.size()) out.push_back({s.substr(last), -1, seg.at_start && last == 0});
  }
  *segments = std::move(out);
}

void Tokenizer::encode_segment(const Segment& segment, std::vector<int32_t>* out) const {
  std::vector<Segment> parts{{apply_normalizer(normalizer_, segment.text), -1, segment.at_start}};
  split_added(&parts, /*normalized_pass=*/true);
  for (const Segment& part : parts) {
    if (part.added_id >= 0) {
      out->push_back(part.added_id);
      continue;
    }
    std::vector<Piece> pieces{{part.text, part.at_start}};
    apply_pre_tokenizer(pre_tokenizer_, &pieces);
    for (const Piece& p : pieces) model_->encode_word(p.text, out);
  }
}

std::vector<int32_t> Tokenizer::encode(std::string_view text, bool add_special_tokens) const {
  std::vector<Segment> segments{{utf8_lossy(text), -1, true}};
  split_added(&segments, /*normalized_pass=*/false);
  std::vector<int32_t> ids;
  if (add_special_tokens) ids = post_.prefix;
  for (const Segment& seg : segments) {
    if (seg.added_id >= 0) ids.push_back(seg.added_id);
    else encode_segment(seg, &ids);
  }
  if (add_special_tokens) ids.insert(ids.end(), post_.suffix.begin(), post_.suffix.end());
  return ids;
}

std::string Tokenizer::decode(const std::vector<int32_t>& ids, bool skip_special_tokens) const {
  std::vector<std::string> tokens;
  tokens.reserve(ids.size());
  for (int32_t id : ids) {
    if (skip_special_tokens && is_special(id)) continue;
    tokens.push_back(id_to_token(id));
  }
  return apply_decoder(decoder_, std::move(tokens), has_decoder_);
}

int32_t Tokenizer::vocab_size() const {
  int32_t n = model_->vocab_size();
  for (const auto& a : added_)
    if (a.id >= model_->vocab_size()) n = std::max(n, a.id + 1);
  return n;
}

std::optional<int32_t> Tokenizer::token_to_id(std::string_view token) const {
  for (const auto& a : added_)
    if (a.content == token) return a.id;
  return model_->token_to_id(token);
}

std::string Tokenizer::id_to_token(int32_t id) const {
  for (const auto& a : added_)
    if (a.id == id) return a.content;
  YZ_CHECK(id >= 0 && id < model_->vocab_size(), "token id ", id, " is out of range (vocabulary ",
           vocab_size(), ")");
  return model_->token(id);
}

bool Tokenizer::has_id(int32_t id) const {
  if (id >= 0 && id < model_->vocab_size()) return true;
  for (const auto& a : added_)
    if (a.id == id) return true;
  return false;
}

bool Tokenizer::is_special(int32_t id) const {
  for (const auto& a : added_)
    if (a.id == id) return a.special;
  return false;
}

std::string IncrementalDecoder::step(int32_t id) {
  if (!tokenizer_.has_id(id)) return "";
  window_.push_back(id);
  std::string text = tokenizer_.decode(window_, skip_special_);
  // An incomplete UTF-8 sequence decodes to a trailing U+FFFD: wait for the next token.
  if (text.size() >= 3 && text.compare(text.size() - 3, 3, "\xef\xbf\xbd") == 0) return "";
  YZ_ASSERT(text.compare(0, emitted_text_.size(), emitted_text_) == 0,
            "incremental decode lost its prefix");
  std::string piece = text.substr(emitted_text_.size());
  // Keep the last id as context: decoders that strip a leading space treat the first token of
  // a sequence specially, so each window starts with an already-emitted token.
  window_ = {window_.back()};
  emitted_ = 1;
  emitted_text_ = tokenizer_.decode(window_, skip_special_);
  return piece;
}

std::string IncrementalDecoder::flush() {
  if (emitted_ == window_.size()) return "";
  std::string text = tokenizer_.decode(window_, skip_special_);
  std::string piece = text.substr(std::min(emitted_text_.size(), text.size()));
  window_ = {window_.back()};
  emitted_ = 1;
  emitted_text_ = tokenizer_.decode(window_, skip_special_);
  return piece;
}

}  // namespace yz::tok
