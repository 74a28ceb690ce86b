// BPE model (see bpe.h).
#include "tokenizer/bpe.h"

#include <cstdio>
#include <queue>

#include "tokenizer/unicode.h"
#include "util/error.h"

namespace yz::tok {

namespace {
constexpr size_t kMaxCachedWordBytes = 256;

uint64_t pair_key(int32_t a, int32_t b) {
  return (static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) | static_cast<uint32_t>(b);
}
}  // namespace

std::string Bpe::key_of(std::string_view token) const {
  return options_.byte_level ? byte_level_to_bytes(token) : std::string(token);
}

Bpe::Bpe(std::vector<std::string> vocab,
         const std::vector<std::pair<std::string, std::string>>& merges, BpeOptions options)
    : vocab_(std::move(vocab)), options_(options) {
  by_token_.reserve(vocab_.size());
  by_key_.reserve(vocab_.size());
  for (size_t id = 0; id < vocab_.size(); ++id) {
    by_token_[vocab_[id]] = static_cast<int32_t>(id);
    by_key_.emplace(key_of(vocab_[id]), static_cast<int32_t>(id));
  }
  merges_.reserve(merges.size());
  for (size_t rank = 0; rank < merges.size(); ++rank) {
    const auto& [a, b] = merges[rank];
    auto ia = by_token_.find(a), ib = by_token_.find(b), im = by_token_.find(a + b);
    YZ_CHECK(ia != by_token_.end() && ib != by_token_.end(), "merge ", rank, " ('", a, "' '",
             b, "') uses a token that is not in the vocabulary");
    YZ_CHECK(im != by_token_.end(), "merge ", rank, " ('", a, "' '", b,
             "') produces a token that is not in the vocabulary");
    merges_.emplace(pair_key(ia->second, ib->second),
                    std::make_pair(static_cast<int32_t>(rank), im->second));
  }
  byte_ids_.assign(256, -1);
  for (int byte = 0; byte < 256; ++byte) {
    if (options_.byte_level) {
      auto it = by_key_.find(std::string(1, static_cast<char>(byte)));
      if (it != by_key_.end()) byte_ids_[byte] = it->second;
    } else if (options_.byte_fallback) {
      char name[8];
      std::snprintf(name, sizeof(name), "<0x%02X>", byte);
      auto it = by_token_.find(name);
      if (it != by_token_.end()) byte_ids_[byte] = it->second;
    }
  }
}

std::optional<int32_t> Bpe::token_to_id(std::string_view token) const {
  auto it = by_token_.find(std::string(token));
  if (it == by_token_.end()) return std::nullopt;
  return it->second;
}

void Bpe::merge_symbols(std::vector<int32_t>* symbols) const {
  std::vector<int32_t>& ids = *symbols;
  const int n = static_cast<int>(ids.size());
  if (n < 2) return;
  // Doubly linked list over symbol slots; merged-away slots are marked dead (id -1).
  std::vector<int> prev(n), next(n);
  for (int i = 0; i < n; ++i) {
    prev[i] = i - 1;
    next[i] = i + 1 < n ? i + 1 : -1;
  }
  struct Candidate {
    int32_t rank;
    int pos;
    int32_t left, right, merged;
    bool operator>(const Candidate& o) const {
      return rank != o.rank ? rank > o.rank : pos > o.pos;
    }
  };
  std::priority_queue<Candidate, std::vector<Candidate>, std::greater<Candidate>> queue;
  auto push = [&](int pos) {
    int r = next[pos];
    if (pos < 0 || r < 0) return;
    auto it = merges_.find(pair_key(ids[pos], ids[r]));
    if (it != merges_.end())
      queue.push({it->second.first, pos, ids[pos], ids[r], it->second.second});
  };
  for (int i = 0; i + 1 < n; ++i) push(i);
  while (!queue.empty()) {
    Candidate c = queue.top();
    queue.pop();
    int r = next[c.pos];
    if (ids[c.pos] != c.left || r < 0 || ids[r] != c.right) continue;  // stale
    ids[c.pos] = c.merged;
    ids[r] = -1;
    next[c.pos] = next[r];
    if (next[r] >= 0) prev[next[r]] = c.pos;
    if (prev[c.pos] >= 0) push(prev[c.pos]);
    push(c.pos);
  }
  int w = 0;
  for (int i = 0; i < n; ++i)
    if (ids[i] >= 0) ids[w++] = ids[i];
  ids.resize(w);
}

void Bpe::encode_word(std::string_view word, std::vector<int32_t>* out) const {
  if (word.empty()) return;
  const bool cacheable = word.size() <= kMaxCachedWordBytes;
  std::string key(word);
  if (cacheable) {
    std::lock_guard<std::mutex> lock(cache_mutex_);
    auto it = cache_.find(key);
    if (it != cache_.end()) {
      out->insert(out->end(), it->second.begin(), it->second.end());
      return;
    }
  }
  std::vector<int32_t> ids;
  auto whole = options_.ignore_merges ? by_key_.find(key) : by_key_.end();
  if (whole != by_key_.end()) {
    ids.push_back(whole->second);
  } else if (options_.byte_level) {
    ids.reserve(word.size());
    for (char c : word) {
      int32_t id = byte_ids_[static_cast<uint8_t>(c)];
      YZ_CHECK(id >= 0 || options_.unk_id, "byte-level vocabulary lacks byte ",
               static_cast<int>(static_cast<uint8_t>(c)), " and has no unk token");
      ids.push_back(id >= 0 ? id : *options_.unk_id);
    }
    merge_symbols(&ids);
  } else {
    bool last_unk = false;
    for (size_t i = 0; i < word.size();) {
      int len = utf8_seq_len(static_cast<uint8_t>(word[i]));
      if (i + len > word.size()) len = static_cast<int>(word.size() - i);
      auto it = by_key_.find(std::string(word.substr(i, len)));
      if (it != by_key_.end()) {
        ids.push_back(it->second);
        last_unk = false;
      } else if (options_.byte_fallback && byte_ids_[static_cast<uint8_t>(word[i])] >= 0) {
        for (int k = 0; k < len; ++k) ids.push_back(byte_ids_[static_cast<uint8_t>(word[i + k])]);
        last_unk = false;
      } else {
        YZ_CHECK(options_.unk_id.has_value(), "character '", word.substr(i, len),
                 "' is not in the vocabulary and the tokenizer has no unk token");
        if (!(options_.fuse_unk && last_unk)) ids.push_back(*options_.unk_id);
        last_unk = true;
      }
      i += len;
    }
    merge_symbols(&ids);
  }
  out->insert(out->end(), ids.begin(), ids.end());
  if (cacheable) {
    std::lock_guard<std::mutex> lock(cache_mutex_);
    if (cache_.size() >= kCacheCapacity) cache_.clear();
    cache_.emplace(std::move(key), std::move(ids));
  }
}

}  // namespace yz::tok
