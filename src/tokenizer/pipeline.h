// The configurable stages of a Hugging Face tokenizer.json around the BPE model: normalizer,
// pre-tokenizer, post-processor (special tokens added by encode) and decoder. Each stage is parsed
// from its JSON object; unsupported component types are rejected by name.
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "tokenizer/regex.h"
#include "tokenizer/unicode.h"

namespace yz::tok {

// --- normalizer (tokenizers/src/normalizers) ---
struct NormalizerStep {
  enum class Kind { kUnicode, kPrepend, kReplace, kLowercase } kind;
  NormalForm form = NormalForm::kNFC;  // kUnicode
  std::string a, b;                    // kPrepend: a; kReplace: a -> b
};
std::vector<NormalizerStep> parse_normalizer(const nlohmann::json& j);
std::string apply_normalizer(const std::vector<NormalizerStep>& steps, std::string text);

// --- pre-tokenizer (tokenizers/src/pre_tokenizers) ---
struct Piece {
  std::string text;
  bool at_start = false;  // begins at offset 0 of the input (Metaspace prepend_scheme "first")
};
struct PreTokenizerStep {
  enum class Kind { kSplit, kByteLevel, kMetaspace } kind;
  enum class Behavior { kIsolated, kRemoved, kMergedWithPrevious, kMergedWithNext } behavior =
      Behavior::kIsolated;
  std::shared_ptr<Regex> regex;  // kSplit; kByteLevel with use_regex (GPT-2 pattern)
  bool add_prefix_space = false; // kByteLevel
  std::string replacement;       // kMetaspace ("▁")
  enum class Prepend { kAlways, kFirst, kNever } prepend = Prepend::kAlways;
  bool split = true;             // kMetaspace
};
std::vector<PreTokenizerStep> parse_pre_tokenizer(const nlohmann::json& j);
void apply_pre_tokenizer(const std::vector<PreTokenizerStep>& steps, std::vector<Piece>* pieces);
bool is_byte_level(const std::vector<PreTokenizerStep>& steps);

// --- post-processor: TemplateProcessing (single sequence), ByteLevel (no ids change) ---
struct PostProcessor {
  std::vector<int32_t> prefix, suffix;  // ids around $A when add_special_tokens
};
PostProcessor parse_post_processor(const nlohmann::json& j);

// --- decoder (tokenizers/src/decoders) ---
struct DecoderStep {
  enum class Kind { kByteLevel, kReplace, kByteFallback, kFuse, kStrip, kMetaspace } kind;
  std::string a, b;      // kReplace a -> b; kStrip content a; kMetaspace replacement a
  int start = 0, stop = 0;  // kStrip
  bool prepend = true;      // kMetaspace: strip the leading space of the first token
};
std::vector<DecoderStep> parse_decoder(const nlohmann::json& j);
// Tokens (tokenizer.json spelling) -> text. No decoder means tokens joined with spaces.
std::string apply_decoder(const std::vector<DecoderStep>& steps, std::vector<std::string> tokens,
                          bool has_decoder);

}  // namespace yz::tok
