// Normalizer, pre-tokenizer, post-processor and decoder stages (see pipeline.h). Each function
// cites the tokenizers (Rust) component whose behaviour it reproduces.
#include "tokenizer/pipeline.h"

#include <cctype>

#include "util/error.h"

namespace yz::tok {

using nlohmann::json;

namespace {

// GPT-2's pattern, used by ByteLevel with use_regex (pre_tokenizers/byte_level.rs).
constexpr const char* kGpt2Pattern =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

std::string type_of(const json& j, const char* what) {
  YZ_CHECK(j.is_object() && j.contains("type") && j["type"].is_string(), "tokenizer.json: ", what,
           " without a \"type\"");
  return j["type"].get<std::string>();
}

// {"String": s} or {"Regex": r} (tokenizers' SplitPattern / ReplacePattern).
std::shared_ptr<Regex> parse_pattern(const json& j, const char* where) {
  YZ_CHECK(j.is_object(), "tokenizer.json: ", where, " pattern is not an object");
  if (j.contains("String")) return std::make_shared<Regex>(j["String"].get<std::string>(), true);
  if (j.contains("Regex")) return std::make_shared<Regex>(j["Regex"].get<std::string>(), false);
  YZ_CHECK(false, "tokenizer.json: ", where, " pattern must be {\"String\"} or {\"Regex\"}");
}

// Every occurrence of `from` in `text` replaced by `to` (tokenizers' String patterns).
std::string replace_all(const std::string& text, const std::string& from, const std::string& to) {
  if (from.empty()) return text;
  std::string out;
  size_t pos = 0, hit;
  while ((hit = text.find(from, pos)) != std::string::npos) {
    out.append(text, pos, hit - pos);
    out += to;
    pos = hit + from.size();
  }
  out.append(text, pos, std::string::npos);
  return out;
}

// Splits `piece` at `matches` according to tokenizers' SplitDelimiterBehavior.
void split_piece(const Piece& piece, const std::vector<std::pair<size_t, size_t>>& matches,
                 PreTokenizerStep::Behavior behavior, std::vector<Piece>* out) {
  using B = PreTokenizerStep::Behavior;
  const std::string& s = piece.text;
  std::vector<std::pair<size_t, size_t>> parts;  // [begin, end)
  size_t last = 0;
  for (auto [b, e] : matches) {
    switch (behavior) {
      case B::kIsolated:
        if (b > last) parts.emplace_back(last, b);
        parts.emplace_back(b, e);
        last = e;
        break;
      case B::kRemoved:
        if (b > last) parts.emplace_back(last, b);
        last = e;
        break;
      case B::kMergedWithPrevious:
        parts.emplace_back(last, e);
        last = e;
        break;
      case B::kMergedWithNext:
        if (b > last) parts.emplace_back(last, b);
        last = b;
        break;
    }
  }
  if (last < s.size()) parts.emplace_back(last, s.size());
  for (auto [b, e] : parts) {
    if (e > b) out->push_back({s.substr(b, e - b), piece.at_start && b == 0});
  }
}


}  // namespace

// ---------------------------------------------------------------- normalizer

std::vector<NormalizerStep> parse_normalizer(const json& j) {
  std::vector<NormalizerStep> steps;
  if (j.is_null()) return steps;
  const std::string type = type_of(j, "normalizer");
  if (type == "Sequence") {
    for (const json& sub : j.at("normalizers")) {
      auto more = parse_normalizer(sub);
      steps.insert(steps.end(), more.begin(), more.end());
    }
  } else if (type == "NFC" || type == "NFD" || type == "NFKC" || type == "NFKD") {
    NormalizerStep s{NormalizerStep::Kind::kUnicode};
    s.form = type == "NFC" ? NormalForm::kNFC : type == "NFD" ? NormalForm::kNFD
             : type == "NFKC" ? NormalForm::kNFKC : NormalForm::kNFKD;
    steps.push_back(s);
  } else if (type == "Prepend") {
    steps.push_back({NormalizerStep::Kind::kPrepend, NormalForm::kNFC,
                     j.at("prepend").get<std::string>(), ""});
  } else if (type == "Replace") {
    const json& p = j.at("pattern");
    YZ_CHECK(p.contains("String"), "tokenizer.json: Replace normalizer with a regex pattern is ",
             "not supported");
    steps.push_back({NormalizerStep::Kind::kReplace, NormalForm::kNFC,
                     p["String"].get<std::string>(), j.at("content").get<std::string>()});
  } else if (type == "Lowercase") {
    steps.push_back({NormalizerStep::Kind::kLowercase});
  } else {
    YZ_CHECK(false, "tokenizer.json: normalizer type '", type, "' is not supported");
  }
  return steps;
}

std::string apply_normalizer(const std::vector<NormalizerStep>& steps, std::string text) {
  for (const auto& s : steps) {
    switch (s.kind) {
      case NormalizerStep::Kind::kUnicode:
        text = normalize(text, s.form);
        break;
      case NormalizerStep::Kind::kPrepend:  // normalizers/prepend.rs: only non-empty text
        if (!text.empty()) text = s.a + text;
        break;
      case NormalizerStep::Kind::kReplace:
        text = replace_all(text, s.a, s.b);
        break;
      case NormalizerStep::Kind::kLowercase:  // ASCII only; full Unicode lowering is not needed
        for (char& c : text)
          if (static_cast<uint8_t>(c) < 0x80) c = static_cast<char>(std::tolower(c));
        break;
    }
  }
  return text;
}

// ---------------------------------------------------------------- pre-tokenizer

std::vector<PreTokenizerStep> parse_pre_tokenizer(const json& j) {
  using S = PreTokenizerStep;
  std::vector<S> steps;
  if (j.is_null()) return steps;
  const std::string type = type_of(j, "pre_tokenizer");
  if (type == "Sequence") {
    for (const json& sub : j.at("pretokenizers")) {
      auto more = parse_pre_tokenizer(sub);
      steps.insert(steps.end(), more.begin(), more.end());
    }
  } else if (type == "Split") {
    S s{S::Kind::kSplit};
    s.regex = parse_pattern(j.at("pattern"), "Split");
    YZ_CHECK(!j.value("invert", false), "tokenizer.json: Split with invert=true is not supported");
    const std::string b = j.at("behavior").get<std::string>();
    if (b == "Isolated") s.behavior = S::Behavior::kIsolated;
    else if (b == "Removed") s.behavior = S::Behavior::kRemoved;
    else if (b == "MergedWithPrevious") s.behavior = S::Behavior::kMergedWithPrevious;
    else if (b == "MergedWithNext") s.behavior = S::Behavior::kMergedWithNext;
    else YZ_CHECK(false, "tokenizer.json: Split behavior '", b, "' is not supported");
    steps.push_back(s);
  } else if (type == "ByteLevel") {
    S s{S::Kind::kByteLevel};
    s.add_prefix_space = j.value("add_prefix_space", false);
    if (j.value("use_regex", true)) s.regex = std::make_shared<Regex>(kGpt2Pattern);
    steps.push_back(s);
  } else if (type == "Metaspace") {
    S s{S::Kind::kMetaspace};
    s.replacement = j.value("replacement", std::string("\xe2\x96\x81"));
    std::string scheme = j.value("prepend_scheme", std::string());
    if (scheme.empty()) scheme = j.value("add_prefix_space", true) ? "always" : "never";
    if (scheme == "always") s.prepend = S::Prepend::kAlways;
    else if (scheme == "first") s.prepend = S::Prepend::kFirst;
    else if (scheme == "never") s.prepend = S::Prepend::kNever;
    else YZ_CHECK(false, "tokenizer.json: Metaspace prepend_scheme '", scheme, "' is unknown");
    s.split = j.value("split", true);
    steps.push_back(s);
  } else {
    YZ_CHECK(false, "tokenizer.json: pre_tokenizer type '", type, "' is not supported");
  }
  for (size_t i = 0; i + 1 < steps.size(); ++i) {
    YZ_CHECK(steps[i].kind != S::Kind::kByteLevel,
             "tokenizer.json: ByteLevel must be the last pre-tokenizer");
  }
  return steps;
}

bool is_byte_level(const std::vector<PreTokenizerStep>& steps) {
  return !steps.empty() && steps.back().kind == PreTokenizerStep::Kind::kByteLevel;
}

void apply_pre_tokenizer(const std::vector<PreTokenizerStep>& steps, std::vector<Piece>* pieces) {
  using S = PreTokenizerStep;
  for (const auto& s : steps) {
    std::vector<Piece> next;
    next.reserve(pieces->size() * 2);
    for (Piece& p : *pieces) {
      switch (s.kind) {
        case S::Kind::kSplit:
          split_piece(p, s.regex->find_all(p.text), s.behavior, &next);
          break;
        case S::Kind::kByteLevel:
          // pre_tokenizers/byte_level.rs; the byte alphabet mapping itself happens in the BPE
          // model, which works on raw bytes.
          if (s.add_prefix_space && (p.text.empty() || p.text[0] != ' ')) p.text = " " + p.text;
          if (s.regex) split_piece(p, s.regex->find_all(p.text), S::Behavior::kIsolated, &next);
          else next.push_back(std::move(p));
          break;
        case S::Kind::kMetaspace: {  // pre_tokenizers/metaspace.rs
          std::string t = replace_all(p.text, " ", s.replacement);
          bool starts = t.compare(0, s.replacement.size(), s.replacement) == 0;
          if (!starts && (s.prepend == S::Prepend::kAlways ||
                          (s.prepend == S::Prepend::kFirst && p.at_start)))
            t = s.replacement + t;
          Piece q{std::move(t), p.at_start};
          if (!s.split) {
            next.push_back(std::move(q));
            break;
          }
          std::vector<std::pair<size_t, size_t>> hits;
          for (size_t pos = q.text.find(s.replacement); pos != std::string::npos;
               pos = q.text.find(s.replacement, pos + s.replacement.size()))
            hits.emplace_back(pos, pos + s.replacement.size());
          split_piece(q, hits, S::Behavior::kMergedWithNext, &next);
          break;
        }
      }
    }
    *pieces = std::move(next);
  }
}

// ---------------------------------------------------------------- post-processor

PostProcessor parse_post_processor(const json& j) {
  PostProcessor pp;
  if (j.is_null()) return pp;
  const std::string type = type_of(j, "post_processor");
  if (type == "ByteLevel") return pp;  // only adjusts offsets
  if (type == "Sequence") {
    for (const json& sub : j.at("processors")) {
      PostProcessor p = parse_post_processor(sub);
      pp.prefix.insert(pp.prefix.end(), p.prefix.begin(), p.prefix.end());
      pp.suffix.insert(pp.suffix.begin(), p.suffix.begin(), p.suffix.end());
    }
    return pp;
  }
  YZ_CHECK(type == "TemplateProcessing", "tokenizer.json: post_processor type '", type,
           "' is not supported");
  bool seen_sequence = false;
  for (const json& item : j.at("single")) {
    if (item.contains("Sequence")) {
      seen_sequence = true;
      continue;
    }
    YZ_CHECK(item.contains("SpecialToken"), "tokenizer.json: TemplateProcessing item is neither ",
             "Sequence nor SpecialToken");
    const std::string name = item["SpecialToken"].at("id").get<std::string>();
    YZ_CHECK(j.at("special_tokens").contains(name), "tokenizer.json: TemplateProcessing names ",
             "special token '", name, "' without defining it");
    for (const json& id : j["special_tokens"][name].at("ids"))
      (seen_sequence ? pp.suffix : pp.prefix).push_back(id.get<int32_t>());
  }
  return pp;
}

// ---------------------------------------------------------------- decoder

std::vector<DecoderStep> parse_decoder(const json& j) {
  using D = DecoderStep;
  std::vector<D> steps;
  if (j.is_null()) return steps;
  const std::string type = type_of(j, "decoder");
  if (type == "Sequence") {
    for (const json& sub : j.at("decoders")) {
      auto more = parse_decoder(sub);
      steps.insert(steps.end(), more.begin(), more.end());
    }
  } else if (type == "ByteLevel") {
    steps.push_back({D::Kind::kByteLevel});
  } else if (type == "Replace") {
    const json& p = j.at("pattern");
    YZ_CHECK(p.contains("String"), "tokenizer.json: Replace decoder with a regex pattern is not ",
             "supported");
    steps.push_back({D::Kind::kReplace, p["String"].get<std::string>(),
                     j.at("content").get<std::string>()});
  } else if (type == "ByteFallback") {
    steps.push_back({D::Kind::kByteFallback});
  } else if (type == "Fuse") {
    steps.push_back({D::Kind::kFuse});
  } else if (type == "Strip") {
    D s{D::Kind::kStrip, j.at("content").get<std::string>()};
    s.start = j.value("start", 0);
    s.stop = j.value("stop", 0);
    steps.push_back(s);
  } else if (type == "Metaspace") {
    D s{D::Kind::kMetaspace, j.value("replacement", std::string("\xe2\x96\x81"))};
    std::string scheme = j.value("prepend_scheme", std::string());
    if (scheme.empty()) scheme = j.value("add_prefix_space", true) ? "always" : "never";
    s.prepend = scheme != "never";
    steps.push_back(s);
  } else {
    YZ_CHECK(false, "tokenizer.json: decoder type '", type, "' is not supported");
  }
  return steps;
}

std::string apply_decoder(const std::vector<DecoderStep>& steps, std::vector<std::string> tokens,
                          bool has_decoder) {
  using D = DecoderStep;
  if (!has_decoder) {
    std::string out;
    for (size_t i = 0; i < tokens.size(); ++i) out += (i ? " " : "") + tokens[i];
    return out;
  }
  for (const auto& s : steps) {
    switch (s.kind) {
      case D::Kind::kByteLevel: {  // decoders/byte_level.rs: a token maps only if every char does
        std::string bytes;
        for (const auto& t : tokens) {
          std::string mapped;
          bool ok = true;
          for (size_t i = 0; i < t.size() && ok;) {
            int len;
            int b = unicode_to_byte(decode_utf8(t, i, &len));
            if (b < 0) ok = false;
            else mapped.push_back(static_cast<char>(b));
            i += len;
          }
          bytes += ok ? mapped : t;
        }
        tokens = {utf8_lossy(bytes)};
        break;
      }
      case D::Kind::kReplace:
        for (auto& t : tokens) t = replace_all(t, s.a, s.b);
        break;
      case D::Kind::kByteFallback: {  // decoders/byte_fallback.rs
        std::vector<std::string> out;
        std::string pending;
        size_t pending_count = 0;
        auto flush = [&] {
          if (pending_count == 0) return;
          std::string valid = utf8_lossy(pending);
          if (valid == pending) {
            out.push_back(pending);
          } else {
            for (size_t k = 0; k < pending_count; ++k) out.push_back("\xef\xbf\xbd");
          }
          pending.clear();
          pending_count = 0;
        };
        for (auto& t : tokens) {
          if (t.size() == 6 && t.compare(0, 3, "<0x") == 0 && t[5] == '>' &&
              std::isxdigit(static_cast<unsigned char>(t[3])) &&
              std::isxdigit(static_cast<unsigned char>(t[4]))) {
            pending.push_back(static_cast<char>(std::stoi(t.substr(3, 2), nullptr, 16)));
            ++pending_count;
          } else {
            flush();
            out.push_back(std::move(t));
          }
        }
        flush();
        tokens = std::move(out);
        break;
      }
      case D::Kind::kFuse: {
        std::string all;
        for (const auto& t : tokens) all += t;
        tokens = {all};
        break;
      }
      case D::Kind::kStrip:  // decoders/strip.rs: per token, up to start/stop copies of a char
        for (auto& t : tokens) {
          int n = 0;
          size_t b = 0;
          while (n < s.start && t.compare(b, s.a.size(), s.a) == 0) b += s.a.size(), ++n;
          size_t e = t.size();
          n = 0;
          while (n < s.stop && e >= b + s.a.size() && t.compare(e - s.a.size(), s.a.size(), s.a) == 0)
            e -= s.a.size(), ++n;
          t = t.substr(b, e - b);
        }
        break;
      case D::Kind::kMetaspace:  // decoders: metaspace.rs decode_chain
        for (size_t i = 0; i < tokens.size(); ++i) {
          std::string out;
          const std::string& t = tokens[i];
          for (size_t p = 0; p < t.size();) {
            if (t.compare(p, s.a.size(), s.a) == 0) {
              if (!(i == 0 && s.prepend)) out.push_back(' ');
              p += s.a.size();
            } else {
              out.push_back(t[p++]);
            }
          }
          tokens[i] = std::move(out);
        }
        break;
    }
  }
  std::string out;
  for (const auto& t : tokens) out += t;
  return out;
}

}  // namespace yz::tok
