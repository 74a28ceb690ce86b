// Sharded safetensors writing (see safetensors_writer.h).
#include "util/safetensors_writer.h"

#include <cstdio>
#include <nlohmann/json.hpp>

#include "util/error.h"

namespace yz {

namespace {
std::string shard_file_name(size_t i, size_t n) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "model-%05zu-of-%05zu.safetensors", i + 1, n);
  return buf;
}
}  // namespace

ShardedWriter::ShardedWriter(const fs::path& dir, uint64_t max_shard_bytes,
                             std::map<std::string, std::string> metadata)
    : dir_(dir), max_shard_bytes_(max_shard_bytes), metadata_(std::move(metadata)) {
  YZ_CHECK(max_shard_bytes_ > 0, "max shard size must be positive");
  YZ_CHECK(fs::is_directory(dir_), dir_.string(), ": output directory does not exist");
}

ShardedWriter::~ShardedWriter() {
  if (!finished_) {  // abandoned: remove our temporaries (the StagedDir removes the rest)
    pending_data_.close();
    std::error_code ec;
    if (!pending_data_path_.empty()) fs::remove(pending_data_path_, ec);
    for (const auto& s : shards_) fs::remove(s, ec);
  }
}

void ShardedWriter::add(const std::string& name, DType dtype, const std::vector<int64_t>& shape,
                        const void* data, size_t nbytes) {
  YZ_ASSERT(!finished_, "ShardedWriter::add after finish");
  YZ_CHECK(!seen_.count(name), "tensor '", name, "' written twice");
  TensorInfo info;
  info.dtype = dtype;
  info.shape = shape;
  YZ_CHECK(static_cast<uint64_t>(info.numel()) * dtype_size(dtype) == nbytes, "tensor '", name,
           "': ", nbytes, " bytes do not match its dtype and shape");
  if (!pending_.empty() && pending_bytes_ + nbytes > max_shard_bytes_) close_shard();
  if (pending_.empty()) {
    pending_data_path_ = dir_ / (".shard-" + std::to_string(shards_.size()) + ".data.tmp");
    pending_data_.open(pending_data_path_, std::ios::binary | std::ios::trunc);
    YZ_CHECK(pending_data_.good(), pending_data_path_.string(), ": cannot create");
  }
  info.begin = pending_bytes_;
  info.end = pending_bytes_ + nbytes;
  pending_data_.write(static_cast<const char*>(data), static_cast<std::streamsize>(nbytes));
  YZ_CHECK(pending_data_.good(), pending_data_path_.string(), ": write failed (disk full?)");
  pending_bytes_ += nbytes;
  pending_.emplace_back(name, std::move(info));
  seen_[name] = true;
  num_params_ += pending_.back().second.numel();
  total_bytes_ += nbytes;
}

void ShardedWriter::close_shard() {
  pending_data_.close();
  YZ_CHECK(!pending_data_.fail(), pending_data_path_.string(), ": write failed (disk full?)");
  fs::path shard = dir_ / (".shard-" + std::to_string(shards_.size()) + ".tmp");
  {
    std::ofstream out(shard, std::ios::binary | std::ios::trunc);
    YZ_CHECK(out.good(), shard.string(), ": cannot create");
    std::string header = serialize_safetensors_header(pending_, metadata_);
    out.write(header.data(), static_cast<std::streamsize>(header.size()));
    std::ifstream in(pending_data_path_, std::ios::binary);
    std::vector<char> buf(16 << 20);
    while (in) {
      in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
      out.write(buf.data(), in.gcount());
    }
    out.flush();
    YZ_CHECK(out.good(), shard.string(), ": write failed (disk full?)");
  }
  fs::remove(pending_data_path_);
  fsync_path(shard);
  shards_.push_back(shard);
  std::vector<std::string> names;
  for (const auto& p : pending_) names.push_back(p.first);
  shard_names_.push_back(std::move(names));
  pending_.clear();
  pending_bytes_ = 0;
}

void ShardedWriter::finish() {
  YZ_ASSERT(!finished_, "ShardedWriter::finish twice");
  if (!pending_.empty() || shards_.empty()) {
    if (pending_.empty()) {  // an empty checkpoint is still a valid (header-only) file
      pending_data_path_ = dir_ / ".shard-0.data.tmp";
      pending_data_.open(pending_data_path_, std::ios::binary | std::ios::trunc);
    }
    close_shard();
  }
  const size_t n = shards_.size();
  if (n == 1) {
    fs::rename(shards_[0], dir_ / "model.safetensors");
  } else {
    nlohmann::ordered_json index;
    index["metadata"] = {{"total_parameters", num_params_}, {"total_size", total_bytes_}};
    nlohmann::ordered_json map = nlohmann::ordered_json::object();
    for (size_t i = 0; i < n; ++i) {
      std::string final_name = shard_file_name(i, n);
      fs::rename(shards_[i], dir_ / final_name);
      for (const auto& t : shard_names_[i]) map[t] = final_name;
    }
    index["weight_map"] = map;
    write_file_atomic(dir_ / "model.safetensors.index.json", index.dump(2) + "\n");
  }
  finished_ = true;
}

}  // namespace yz
