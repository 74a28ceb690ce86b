// A Hugging Face tokenizer.json, end to end: added/special tokens matched before splitting,
// normalizer, pre-tokenizer, BPE, post-processor; decoding and incremental (streaming)
// decoding. Behaviour follows the `tokenizers` library id for id (tested against its goldens).
#pragma once

#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tokenizer/bpe.h"
#include "tokenizer/pipeline.h"
#include "util/fs.h"

namespace yz::tok {

struct AddedToken {
  int32_t id = 0;
  std::string content;
  bool special = false;
  bool lstrip = false, rstrip = false, single_word = false;
  bool normalized = false;
};

class Tokenizer {
 public:
  static Tokenizer from_file(const fs::path& path);  // tokenizer.json (or a directory holding it)
  explicit Tokenizer(const nlohmann::json& spec, const std::string& source = "tokenizer.json");

  // add_special_tokens: apply the post-processor template (e.g. Llama's BOS), as
  // tokenizers' encode(text, add_special_tokens=True) does.
  std::vector<int32_t> encode(std::string_view text, bool add_special_tokens = true) const;
  std::string decode(const std::vector<int32_t>& ids, bool skip_special_tokens = false) const;

  int32_t vocab_size() const;  // model vocabulary plus added tokens beyond it
  std::optional<int32_t> token_to_id(std::string_view token) const;
  std::string id_to_token(int32_t id) const;
  // Whether `id` names a token. A model's embedding often has more rows than its tokenizer has
  // tokens (Qwen2.5: 152,064 rows, 151,665 tokens); the extra ids name none.
  bool has_id(int32_t id) const;
  bool is_special(int32_t id) const;
  const std::vector<AddedToken>& added_tokens() const { return added_; }

 private:
  struct Segment {
    std::string text;
    int32_t added_id = -1;  // >= 0: an added token matched here
    bool at_start = false;
  };
  // tokenizers' AddedVocabulary: leftmost-longest matching of added-token contents.
  void split_added(std::vector<Segment>* segments, bool normalized_pass) const;
  void encode_segment(const Segment& segment, std::vector<int32_t>* out) const;

  std::string source_;
  std::vector<NormalizerStep> normalizer_;
  std::vector<PreTokenizerStep> pre_tokenizer_;
  PostProcessor post_;
  std::vector<DecoderStep> decoder_;
  bool has_decoder_ = false;
  std::unique_ptr<Bpe> model_;
  std::vector<AddedToken> added_;
  std::vector<std::string> normalized_content_;  // added_[i].content after the normalizer
};

// Streaming detokenizer: feed ids one at a time, get text pieces that never split a UTF-8
// sequence and whose concatenation equals decode(all ids) (tokenizers' DecodeStream idea).
// A generated id that names no token (a padded vocabulary row) adds no text, as tokenizers'
// decode skips ids it has no token for.
class IncrementalDecoder {
 public:
  explicit IncrementalDecoder(const Tokenizer& tokenizer, bool skip_special_tokens = false)
      : tokenizer_(tokenizer), skip_special_(skip_special_tokens) {}
  std::string step(int32_t id);  // "" while a character is still incomplete
  std::string flush();           // whatever is left (replacement characters if incomplete)

 private:
  const Tokenizer& tokenizer_;
  bool skip_special_;
  std::vector<int32_t> window_;  // context ids followed by not-yet-emitted ids
  size_t emitted_ = 0;           // how many ids of window_ are already emitted
  std::string emitted_text_;     // decode(window_[0:emitted_])
};

}  // namespace yz::tok
