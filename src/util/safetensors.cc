// Memory-mapped safetensors reading (see safetensors.h).
#include "util/safetensors.h"

#include <nlohmann/json.hpp>

#include "util/error.h"
#include "util/json_file.h"

namespace yz {

namespace {
constexpr const char* kIndexName = "model.safetensors.index.json";
constexpr const char* kSingleName = "model.safetensors";
}  // namespace

SafetensorsFile::SafetensorsFile(const fs::path& path) : file_(MappedFile::open(path)) {
  header_ = parse_safetensors_header(file_->data(), file_->size(), path.string());
}

TensorView SafetensorsFile::view(const std::string& name) const {
  auto it = header_.tensors.find(name);
  YZ_CHECK(it != header_.tensors.end(), path().string(), ": no tensor named '", name, "'");
  TensorView v;
  v.name = name;
  v.info = it->second;
  v.data = file_->data() + header_.data_start + it->second.begin;
  v.owner = file_;
  return v;
}

bool has_safetensors(const fs::path& dir) {
  return fs::is_regular_file(dir / kIndexName) || fs::is_regular_file(dir / kSingleName);
}

Checkpoint::Checkpoint(const fs::path& path) : path_(path) {
  YZ_CHECK(fs::exists(path), path.string(), ": no such file or directory");
  if (fs::is_regular_file(path)) {
    files_.push_back(std::make_unique<SafetensorsFile>(path));
  } else if (fs::is_regular_file(path / kIndexName)) {
    const fs::path index_path = path / kIndexName;
    const std::string where = index_path.string();
    const nlohmann::json index = read_json_file(index_path);
    YZ_CHECK(index.is_object() && index.contains("weight_map") && index["weight_map"].is_object(),
             where, ": missing \"weight_map\" object");
    std::map<std::string, size_t> shard_ids;
    for (auto it = index["weight_map"].begin(); it != index["weight_map"].end(); ++it) {
      YZ_CHECK(it.value().is_string(), where, ": weight_map entry '", it.key(),
               "' is not a file name");
      std::string shard = it.value().get<std::string>();
      YZ_CHECK(shard.find('/') == std::string::npos && shard != ".." && !shard.empty(), where,
               ": weight_map entry '", it.key(), "' names '", shard,
               "', which is not a file in the checkpoint directory");
      if (!shard_ids.count(shard)) {
        YZ_CHECK(fs::is_regular_file(path / shard), where, ": shard '", shard,
                 "' (named for tensor '", it.key(), "') is missing");
        shard_ids[shard] = files_.size();
        files_.push_back(std::make_unique<SafetensorsFile>(path / shard));
      }
      size_t id = shard_ids[shard];
      YZ_CHECK(files_[id]->has(it.key()), where, ": tensor '", it.key(), "' is named in the index ",
               "but absent from shard '", shard, "'");
      where_[it.key()] = id;
    }
    // A tensor present in a shard but not in the index is an inconsistent checkpoint too.
    for (size_t i = 0; i < files_.size(); ++i) {
      for (const auto& [name, info] : files_[i]->header().tensors) {
        auto it = where_.find(name);
        YZ_CHECK(it != where_.end(), files_[i]->path().string(), ": tensor '", name,
                 "' is not listed in ", kIndexName);
        YZ_CHECK(it->second == i, where, ": tensor '", name, "' appears in two shards");
      }
    }
    return;
  } else if (fs::is_regular_file(path / kSingleName)) {
    files_.push_back(std::make_unique<SafetensorsFile>(path / kSingleName));
  } else {
    YZ_CHECK(false, path.string(), ": no ", kSingleName, " or ", kIndexName, " found");
  }
  for (const auto& [name, info] : files_[0]->header().tensors) where_[name] = 0;
}

std::vector<std::string> Checkpoint::names() const {
  std::vector<std::string> out;
  out.reserve(where_.size());
  for (const auto& kv : where_) out.push_back(kv.first);
  return out;
}

bool Checkpoint::has(const std::string& name) const { return where_.count(name) > 0; }

const SafetensorsFile& Checkpoint::file_of(const std::string& name) const {
  auto it = where_.find(name);
  YZ_CHECK(it != where_.end(), path_.string(), ": checkpoint has no tensor '", name, "'");
  return *files_[it->second];
}

const TensorInfo& Checkpoint::info(const std::string& name) const {
  return file_of(name).header().tensors.at(name);
}

TensorView Checkpoint::view(const std::string& name) const { return file_of(name).view(name); }

const std::map<std::string, std::string>& Checkpoint::metadata() const {
  return files_.front()->header().metadata;
}

int64_t Checkpoint::num_params() const {
  int64_t n = 0;
  for (const auto& [name, id] : where_) n += info(name).numel();
  return n;
}

uint64_t Checkpoint::num_bytes() const {
  uint64_t n = 0;
  for (const auto& [name, id] : where_) n += info(name).end - info(name).begin;
  return n;
}

void Checkpoint::release_pages() const {
  for (const auto& f : files_) f->release_pages();
}

}  // namespace yz
