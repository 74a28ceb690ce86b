// Lazy, memory-mapped safetensors checkpoints: one file, or a Hugging Face directory with
// model.safetensors.index.json and shards. Opening validates every header; tensor bytes are
// only touched when a caller reads them (zero-copy views into the mapping).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "util/fs.h"
#include "util/safetensors_format.h"

namespace yz {

// A view of one tensor's bytes inside a mapped file; `owner` keeps the mapping alive.
struct TensorView {
  std::string name;
  TensorInfo info;
  const uint8_t* data = nullptr;  // [info.end - info.begin] bytes
  std::shared_ptr<MappedFile> owner;
  size_t nbytes() const { return static_cast<size_t>(info.end - info.begin); }
};

class SafetensorsFile {
 public:
  explicit SafetensorsFile(const fs::path& path);
  const SafetensorsHeader& header() const { return header_; }
  const fs::path& path() const { return file_->path(); }
  bool has(const std::string& name) const { return header_.tensors.count(name) > 0; }
  TensorView view(const std::string& name) const;
  void release_pages() const { file_->release_pages(); }

 private:
  std::shared_ptr<MappedFile> file_;
  SafetensorsHeader header_;
};

class Checkpoint {
 public:
  // `path`: a .safetensors file, or a directory holding model.safetensors or an index + shards.
  explicit Checkpoint(const fs::path& path);

  std::vector<std::string> names() const;  // sorted
  bool has(const std::string& name) const;
  const TensorInfo& info(const std::string& name) const;
  TensorView view(const std::string& name) const;
  // Metadata of the first shard's header (HF writes {"format": "pt"}).
  const std::map<std::string, std::string>& metadata() const;
  int64_t num_params() const;  // sum of numel over all tensors
  uint64_t num_bytes() const;
  const fs::path& path() const { return path_; }
  // Drops resident pages of every shard (see MappedFile::release_pages); views stay valid.
  void release_pages() const;

 private:
  const SafetensorsFile& file_of(const std::string& name) const;
  fs::path path_;
  std::vector<std::unique_ptr<SafetensorsFile>> files_;
  std::map<std::string, size_t> where_;  // tensor name -> index into files_
};

// True when `dir` holds a safetensors checkpoint we can open.
bool has_safetensors(const fs::path& dir);

}  // namespace yz
