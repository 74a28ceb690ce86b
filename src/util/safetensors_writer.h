// Sharded safetensors writer with a max shard size and a Hugging Face index. Tensor bytes are
// streamed to disk as they arrive (memory stays O(1) in the checkpoint size). Write into a
// StagedDir (util/fs.h) so that an interrupted job never leaves a complete-looking directory.
#pragma once

#include <cstdint>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "util/fs.h"
#include "util/safetensors_format.h"

namespace yz {

constexpr uint64_t kDefaultMaxShardBytes = 5ull << 30;  // transformers' classic "5GB"

class ShardedWriter {
 public:
  ShardedWriter(const fs::path& dir, uint64_t max_shard_bytes = kDefaultMaxShardBytes,
                std::map<std::string, std::string> metadata = {{"format", "pt"}});
  ~ShardedWriter();
  ShardedWriter(const ShardedWriter&) = delete;
  ShardedWriter& operator=(const ShardedWriter&) = delete;

  // Appends one tensor; `data` holds numel(shape) * dtype_size(dtype) bytes, row-major.
  void add(const std::string& name, DType dtype, const std::vector<int64_t>& shape,
           const void* data, size_t nbytes);
  // Closes the last shard and names the files: model.safetensors when there is one shard,
  // else model-0000i-of-0000N.safetensors plus model.safetensors.index.json.
  void finish();
  int64_t num_params() const { return num_params_; }

 private:
  void close_shard();

  fs::path dir_;
  uint64_t max_shard_bytes_;
  std::map<std::string, std::string> metadata_;
  // Current shard: tensors so far (offsets relative to its data section) and their bytes,
  // streamed into a temporary data file until the header can be written in front of them.
  std::vector<std::pair<std::string, TensorInfo>> pending_;
  uint64_t pending_bytes_ = 0;
  fs::path pending_data_path_;
  std::ofstream pending_data_;
  std::vector<fs::path> shards_;                       // closed shards, temporary names
  std::vector<std::vector<std::string>> shard_names_;  // tensor names per closed shard
  std::map<std::string, bool> seen_;
  int64_t num_params_ = 0;
  uint64_t total_bytes_ = 0;
  bool finished_ = false;
};

}  // namespace yz
