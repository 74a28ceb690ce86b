// The KV-cache block pool of the serving engine: a fixed number of equal blocks, each holding
// `block_size` tokens of every layer's cache rows (the rows themselves live in the model runner's
// one device allocation; this file only does the bookkeeping, without torch). Reference counts let
// requests share blocks; full blocks can be cached by content (prefix caching) and stay
// reusable after their last user frees them, until evicted in LRU order — vLLM V1's BlockPool
// and FreeKVCacheBlockQueue (vllm/v1/core/block_pool.py, kv_cache_utils.py).
#pragma once

#include <cstdint>
#include <optional>
#include <unordered_map>
#include <vector>

namespace yz::serve {

using BlockId = int32_t;

// Identity of a full block's contents: the chained hash of every token up to and including
// this block, plus exact data so that a hash collision can never hand one request another
// request's rows: a hit must match this block's tokens and the very allocation of the block
// before it (id and generation, which changes whenever a block is reallocated).
struct BlockKey {
  uint64_t hash = 0;
  BlockId parent = -1;            // the previous block of the prefix (-1 for the first)
  uint64_t parent_generation = 0;
  std::vector<int32_t> tokens;    // [block_size]
  bool operator==(const BlockKey& o) const {
    return hash == o.hash && parent == o.parent && parent_generation == o.parent_generation &&
           tokens == o.tokens;
  }
};

// Chained content hash (FNV-1a over the parent hash and the tokens).
uint64_t block_hash(uint64_t parent_hash, const int32_t* tokens, int64_t count);

class BlockPool {
 public:
  BlockPool(int64_t num_blocks, bool enable_prefix_caching);

  int64_t num_blocks() const { return static_cast<int64_t>(ref_.size()); }
  // Blocks not referenced by any request (including cached blocks that may be evicted).
  int64_t num_free_blocks() const { return free_count_; }
  // Fraction of blocks referenced by requests (vLLM's kv_cache_usage).
  double usage() const;
  bool prefix_caching() const { return prefix_caching_; }

  // Takes `n` blocks off the LRU end of the free queue (evicting their cached contents) with
  // reference count 1; nullopt (and nothing changed) when fewer than n are free.
  std::optional<std::vector<BlockId>> allocate(int64_t n);
  // A cached full block with exactly this content, or -1.
  BlockId lookup(const BlockKey& key) const;
  // Takes another reference to blocks found by lookup (removing them from the free queue when
  // they had none).
  void touch(const std::vector<BlockId>& blocks);
  // Drops one reference to each block; blocks reaching zero join the free queue's tail in the
  // order given (callers pass a request's blocks tail-first, so the prefix is evicted last).
  void free(const std::vector<BlockId>& blocks);
  // Registers a full block's content for prefix caching (no-op when disabled or when an equal
  // block is already cached: the first copy stays the canonical one).
  void cache(BlockId block, BlockKey key);
  int32_t ref_count(BlockId b) const { return ref_[b]; }
  uint64_t generation(BlockId b) const { return generation_[b]; }
  std::optional<BlockKey> key(BlockId b) const;
  // Drops every cached block that no request references (vLLM's reset_prefix_cache).
  void reset_prefix_cache();

 private:
  struct KeyHash {
    size_t operator()(const BlockKey& k) const { return static_cast<size_t>(k.hash); }
  };
  void unlink(BlockId b);      // remove from the free queue
  void push_back(BlockId b);   // append to the free queue's tail
  void uncache(BlockId b);

  bool prefix_caching_;
  std::vector<int32_t> ref_;                   // [num_blocks] reference counts
  std::vector<BlockId> prev_, next_;           // [num_blocks] free-queue links (-1 = none)
  std::vector<bool> queued_;                   // [num_blocks] in the free queue
  std::vector<uint64_t> generation_;           // [num_blocks] allocations so far
  BlockId head_ = -1, tail_ = -1;              // LRU end, MRU end
  int64_t free_count_ = 0;
  std::vector<std::optional<BlockKey>> keys_;  // [num_blocks] cached content
  std::unordered_map<BlockKey, BlockId, KeyHash> cached_;
};

}  // namespace yz::serve
