// Per-request block tables over the BlockPool: prefix-cache lookups, slot allocation for the
// tokens a step computes, registration of newly full blocks, freeing (vLLM V1's KVCacheManager
// for one attention type). Torch-free.
#pragma once

#include <cstdint>
#include <vector>

#include "serve/block_pool.h"
#include "serve/request.h"

namespace yz::serve {

// Leading full blocks of a request found in the prefix cache.
struct PrefixHit {
  std::vector<BlockId> blocks;
  int64_t tokens = 0;
};

class KvCacheManager {
 public:
  KvCacheManager(int64_t num_blocks, int64_t block_size, bool enable_prefix_caching);

  int64_t block_size() const { return block_size_; }
  const BlockPool& pool() const { return pool_; }
  BlockPool& pool() { return pool_; }

  // Longest cached prefix of full blocks of `req`'s tokens, never all of them: the last token is
  // always recomputed so that the step yields its logits (vLLM's max_cache_hit_length).
  PrefixHit computed_blocks(Request& req);

  // Makes room for `num_new_tokens` tokens after req.num_computed_tokens + hit.tokens, taking
  // the hit blocks; false (nothing changed) when the pool cannot supply the blocks.
  bool allocate(Request& req, int64_t num_new_tokens, const PrefixHit& hit = PrefixHit());
  // Offers the request's full blocks (through `num_tokens` tokens) to the prefix cache.
  void register_full_blocks(Request& req, int64_t num_tokens);
  // Returns every block of the request to the pool (tail first, so its prefix stays cached
  // longest) and clears its table.
  void free(Request& req);

 private:
  BlockKey key_for(const Request& req, int64_t block_index) const;

  int64_t block_size_;
  BlockPool pool_;
};

}  // namespace yz::serve
