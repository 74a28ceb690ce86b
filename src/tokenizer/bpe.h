// Byte-pair-encoding model of Hugging Face tokenizers (`"model": {"type": "BPE"}`): byte-level
// vocabularies (GPT-2, Qwen, Llama-3) and SentencePiece-style ones with byte fallback
// (Llama-2, Mistral, llama2.c). Matches tokenizers' models/bpe/word.rs merge order: lowest merge
// rank first, leftmost on ties.
#pragma once

#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace yz::tok {

struct BpeOptions {
  bool byte_level = false;     // vocabulary is in GPT-2's byte alphabet; words are raw bytes
  bool byte_fallback = false;  // unknown characters become <0xXX> tokens
  bool ignore_merges = false;  // a word that is itself in the vocabulary is emitted as is
  bool fuse_unk = false;
  std::optional<int32_t> unk_id;
};

class Bpe {
 public:
  // vocab[id] = token string as written in tokenizer.json; merges as (left, right) strings.
  Bpe(std::vector<std::string> vocab, const std::vector<std::pair<std::string, std::string>>& merges,
      BpeOptions options);

  // Appends the ids of one pre-tokenized word (raw UTF-8 bytes) to `out`.
  void encode_word(std::string_view word, std::vector<int32_t>* out) const;

  int32_t vocab_size() const { return static_cast<int32_t>(vocab_.size()); }
  const std::string& token(int32_t id) const { return vocab_[id]; }  // tokenizer.json spelling
  std::optional<int32_t> token_to_id(std::string_view token) const;
  const BpeOptions& options() const { return options_; }

 private:
  void merge_symbols(std::vector<int32_t>* symbols) const;
  std::string key_of(std::string_view token) const;  // raw bytes for byte-level vocabularies

  std::vector<std::string> vocab_;
  std::unordered_map<std::string, int32_t> by_token_;  // tokenizer.json spelling -> id
  std::unordered_map<std::string, int32_t> by_key_;    // encoding key (raw bytes if byte-level)
  std::unordered_map<uint64_t, std::pair<int32_t, int32_t>> merges_;  // (l,r) -> (rank, id)
  std::vector<int32_t> byte_ids_;  // byte-level: id of each single byte; fallback: <0xXX>
  BpeOptions options_;

  // Word cache as in tokenizers' BPE (bounded; cleared when full).
  static constexpr size_t kCacheCapacity = 100000;
  mutable std::mutex cache_mutex_;
  mutable std::unordered_map<std::string, std::vector<int32_t>> cache_;
};

}  // namespace yz::tok
