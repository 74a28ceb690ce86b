// Block pool bookkeeping (see block_pool.h). The free queue is an intrusive doubly-linked list
// over block ids, so allocation, touch and free are O(1) per block.
#include "serve/block_pool.h"

#include "util/error.h"

namespace yz::serve {

uint64_t block_hash(uint64_t parent_hash, const int32_t* tokens, int64_t count) {
  uint64_t h = 1469598103934665603ull;  // FNV-1a offset basis
  auto mix = [&](uint64_t v) {
    for (int i = 0; i < 8; ++i) {
      h ^= (v >> (8 * i)) & 0xff;
      h *= 1099511628211ull;  // FNV prime
    }
  };
  mix(parent_hash);
  for (int64_t i = 0; i < count; ++i) mix(static_cast<uint32_t>(tokens[i]));
  return h;
}

BlockPool::BlockPool(int64_t num_blocks, bool enable_prefix_caching)
    : prefix_caching_(enable_prefix_caching), ref_(num_blocks, 0), prev_(num_blocks, -1),
      next_(num_blocks, -1), queued_(num_blocks, false), generation_(num_blocks, 0),
      keys_(num_blocks) {
  YZ_CHECK(num_blocks > 0, "the KV block pool needs at least one block");
  for (BlockId b = 0; b < num_blocks; ++b) push_back(b);
}

double BlockPool::usage() const {
  return 1.0 - static_cast<double>(free_count_) / static_cast<double>(num_blocks());
}

void BlockPool::unlink(BlockId b) {
  if (prev_[b] >= 0) next_[prev_[b]] = next_[b]; else head_ = next_[b];
  if (next_[b] >= 0) prev_[next_[b]] = prev_[b]; else tail_ = prev_[b];
  prev_[b] = next_[b] = -1;
  queued_[b] = false;
  --free_count_;
}

void BlockPool::push_back(BlockId b) {
  prev_[b] = tail_;
  next_[b] = -1;
  if (tail_ >= 0) next_[tail_] = b; else head_ = b;
  tail_ = b;
  queued_[b] = true;
  ++free_count_;
}

void BlockPool::uncache(BlockId b) {
  if (!keys_[b]) return;
  auto it = cached_.find(*keys_[b]);
  if (it != cached_.end() && it->second == b) cached_.erase(it);
  keys_[b].reset();
}

std::optional<std::vector<BlockId>> BlockPool::allocate(int64_t n) {
  if (n > free_count_) return std::nullopt;
  std::vector<BlockId> out;
  out.reserve(n);
  for (int64_t i = 0; i < n; ++i) {
    const BlockId b = head_;
    unlink(b);
    uncache(b);  // eviction: its old contents are about to be overwritten
    ref_[b] = 1;
    ++generation_[b];
    out.push_back(b);
  }
  return out;
}

BlockId BlockPool::lookup(const BlockKey& key) const {
  if (!prefix_caching_) return -1;
  auto it = cached_.find(key);
  return it == cached_.end() ? -1 : it->second;
}

void BlockPool::touch(const std::vector<BlockId>& blocks) {
  for (BlockId b : blocks) {
    if (ref_[b] == 0) unlink(b);
    ++ref_[b];
  }
}

void BlockPool::free(const std::vector<BlockId>& blocks) {
  for (BlockId b : blocks) {
    YZ_CHECK(ref_[b] > 0, "KV block ", b, " freed more often than it was taken");
    if (--ref_[b] == 0) push_back(b);
  }
}

void BlockPool::cache(BlockId block, BlockKey key) {
  if (!prefix_caching_ || keys_[block]) return;
  if (cached_.count(key)) return;
  cached_.emplace(key, block);
  keys_[block] = std::move(key);
}

std::optional<BlockKey> BlockPool::key(BlockId b) const { return keys_[b]; }

void BlockPool::reset_prefix_cache() {
  for (BlockId b = 0; b < num_blocks(); ++b)
    if (ref_[b] == 0) uncache(b);
}

}  // namespace yz::serve
