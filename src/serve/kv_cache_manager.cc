// Block tables (see kv_cache_manager.h), following vLLM V1's KVCacheManager.allocate_slots and
// get_computed_blocks.
#include "serve/kv_cache_manager.h"

#include <algorithm>

#include "util/error.h"

namespace yz::serve {

const char* finish_reason_name(FinishReason r) {
  switch (r) {
    case FinishReason::kStop: return "stop";
    case FinishReason::kLength: return "length";
    case FinishReason::kAbort: return "abort";
    case FinishReason::kNone: break;
  }
  return "";
}

KvCacheManager::KvCacheManager(int64_t num_blocks, int64_t block_size, bool prefix_caching)
    : block_size_(block_size), pool_(num_blocks, prefix_caching) {
  YZ_CHECK(block_size > 0, "block size must be positive");
}

BlockKey KvCacheManager::key_for(const Request& req, int64_t i) const {
  BlockKey key;
  key.tokens.resize(block_size_);
  for (int64_t t = 0; t < block_size_; ++t) key.tokens[t] = req.token(i * block_size_ + t);
  const uint64_t parent_hash = i > 0 ? req.block_hashes[i - 1] : 0;
  key.hash = block_hash(parent_hash, key.tokens.data(), block_size_);
  if (i > 0) {
    key.parent = req.blocks[i - 1];
    key.parent_generation = pool_.generation(key.parent);
  }
  return key;
}

PrefixHit KvCacheManager::computed_blocks(Request& req) {
  PrefixHit hit;
  if (!pool_.prefix_caching() || req.num_computed_tokens > 0 || !req.blocks.empty()) return hit;
  const int64_t max_blocks = (req.num_tokens() - 1) / block_size_;
  // Walk the prefix; parents of later blocks are the hit blocks found so far.
  std::vector<uint64_t> hashes;
  for (int64_t i = 0; i < max_blocks; ++i) {
    BlockKey key;
    key.tokens.resize(block_size_);
    for (int64_t t = 0; t < block_size_; ++t) key.tokens[t] = req.token(i * block_size_ + t);
    key.hash = block_hash(i > 0 ? hashes.back() : 0, key.tokens.data(), block_size_);
    if (i > 0) {
      key.parent = hit.blocks.back();
      key.parent_generation = pool_.generation(key.parent);
    }
    const BlockId b = pool_.lookup(key);
    if (b < 0) break;
    hit.blocks.push_back(b);
    hashes.push_back(key.hash);
  }
  hit.tokens = static_cast<int64_t>(hit.blocks.size()) * block_size_;
  return hit;
}

bool KvCacheManager::allocate(Request& req, int64_t num_new_tokens, const PrefixHit& hit) {
  const int64_t have = static_cast<int64_t>(req.blocks.size() + hit.blocks.size());
  const int64_t total = req.num_computed_tokens + hit.tokens + num_new_tokens;
  const int64_t need = std::max<int64_t>(0, (total + block_size_ - 1) / block_size_ - have);
  // Hit blocks nobody references sit in the free queue: taking them leaves fewer to allocate.
  int64_t evictable_hits = 0;
  for (BlockId b : hit.blocks) evictable_hits += pool_.ref_count(b) == 0;
  if (need > pool_.num_free_blocks() - evictable_hits) return false;
  if (!hit.blocks.empty()) {  // only on a request's first allocation (computed_blocks)
    pool_.touch(hit.blocks);
    for (BlockId b : hit.blocks) {
      // Hit blocks are registered content: their hashes continue the chain.
      req.block_hashes.push_back(pool_.key(b)->hash);
      req.blocks.push_back(b);
    }
    req.num_registered_blocks = static_cast<int64_t>(hit.blocks.size());
  }
  auto fresh = pool_.allocate(need);
  YZ_ASSERT(fresh.has_value(), "block pool accounting");
  req.blocks.insert(req.blocks.end(), fresh->begin(), fresh->end());
  return true;
}

void KvCacheManager::register_full_blocks(Request& req, int64_t num_tokens) {
  const int64_t full = std::min<int64_t>(num_tokens / block_size_, req.blocks.size());
  for (int64_t i = req.num_registered_blocks; i < full; ++i) {
    BlockKey key = key_for(req, i);
    req.block_hashes.push_back(key.hash);
    pool_.cache(req.blocks[i], std::move(key));
  }
  req.num_registered_blocks = std::max(req.num_registered_blocks, full);
}

void KvCacheManager::free(Request& req) {
  std::vector<BlockId> tail_first(req.blocks.rbegin(), req.blocks.rend());
  pool_.free(tail_first);
  req.blocks.clear();
  req.block_hashes.clear();
  req.num_registered_blocks = 0;
}

}  // namespace yz::serve
