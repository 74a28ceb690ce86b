// A generation request as the scheduler sees it: token ids in and out, its KV blocks, how far
// its cache is computed, and why it finished. Torch-free; sampling state lives with the engine.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "serve/block_pool.h"

namespace yz::serve {

enum class RequestStatus { kWaiting, kRunning, kPreempted, kFinished };
// OpenAI's finish_reason: "stop" (a stop token or string), "length" (max_tokens or the model's
// context), "abort" (client gone, server shutting down).
enum class FinishReason { kNone, kStop, kLength, kAbort };
const char* finish_reason_name(FinishReason r);

struct Request {
  std::string id;
  std::vector<int32_t> prompt;     // [prompt_len]
  std::vector<int32_t> output;     // [generated]
  int64_t max_tokens = 16;         // new tokens at most
  std::vector<int32_t> stop_ids;   // generation ends after emitting one of these
  int64_t arrival = 0;             // order of add_request (FCFS)

  RequestStatus status = RequestStatus::kWaiting;
  FinishReason finish_reason = FinishReason::kNone;
  int64_t num_computed_tokens = 0;   // tokens whose KV rows are in the cache (or scheduled)
  int64_t num_cached_tokens = 0;     // of the prompt, served from the prefix cache (usage)
  int64_t num_preemptions = 0;
  std::vector<BlockId> blocks;       // block table: token i lives in blocks[i / block_size]
  std::vector<uint64_t> block_hashes;  // chained content hashes of the full blocks so far
  int64_t num_registered_blocks = 0;   // leading blocks already offered to the prefix cache

  int64_t num_tokens() const { return static_cast<int64_t>(prompt.size() + output.size()); }
  int32_t token(int64_t i) const {
    const int64_t p = static_cast<int64_t>(prompt.size());
    return i < p ? prompt[i] : output[i - p];
  }
  bool finished() const { return status == RequestStatus::kFinished; }
};

}  // namespace yz::serve
