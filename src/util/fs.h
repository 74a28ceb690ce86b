// File system helpers: read-only memory maps, whole-file reads, atomic file writes and a staged
// output directory that only appears under its final name once everything in it is complete.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

namespace yz {

namespace fs = std::filesystem;

// A private (copy-on-write) mapping of a whole file: readers get zero-copy pointers, and a stray
// write through a tensor made from it can never reach the file on disk.
class MappedFile {
 public:
  static std::shared_ptr<MappedFile> open(const fs::path& path);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const uint8_t* data() const { return data_; }
  uint8_t* mutable_data() const { return data_; }  // copy-on-write page, never the file
  size_t size() const { return size_; }
  const fs::path& path() const { return path_; }
  // Drops the resident pages (they are re-read from the file on the next access), so that
  // streaming a checkpoint layer by layer keeps host memory flat.
  void release_pages() const;

 private:
  MappedFile() = default;
  uint8_t* data_ = nullptr;
  size_t size_ = 0;
  fs::path path_;
};

std::string read_text_file(const fs::path& path);

// Writes `bytes` to `path` through a temporary file in the same directory, fsync, rename.
void write_file_atomic(const fs::path& path, const std::string& bytes);

// fsync a file or directory by path (directories make renames durable).
void fsync_path(const fs::path& path);

// An output directory built under a hidden staging name next to its final place and renamed
// into place by commit(): an interrupted job leaves only ".NAME.partial-*", never a directory
// that looks complete. Refuses to replace an existing output unless `overwrite`, and refuses
// any output that is, contains or lies inside one of the `protected_inputs`.
class StagedDir {
 public:
  StagedDir(const fs::path& final_path, bool overwrite,
            const std::vector<fs::path>& protected_inputs = {});
  ~StagedDir();  // removes the staging directory unless committed
  StagedDir(const StagedDir&) = delete;
  StagedDir& operator=(const StagedDir&) = delete;

  const fs::path& path() const { return staging_; }  // write files here
  const fs::path& final_path() const { return final_; }
  void commit();

 private:
  fs::path final_;
  fs::path staging_;
  bool overwrite_;
  bool committed_ = false;
};

// Removes a file or directory tree; missing paths are fine. Never throws (cleanup paths call
// it). Used instead of std::filesystem::remove_all, which PyTorch's libtorch.so exports in a
// form that crashes when it interposes on libstdc++'s (seen with torch 2.11 wheels).
void remove_tree(const fs::path& path) noexcept;

// CRC-64 (ECMA-182, xz's check) of a file's bytes: training checkpoints record it for every file
// and a resumed run skips a checkpoint whose files no longer match.
uint64_t file_crc64(const fs::path& path);

// True when both paths name the same existing file (after resolving links); false otherwise.
bool same_file(const fs::path& a, const fs::path& b);

// Throws if `out` is, contains or lies inside `input` (after resolving links).
void check_not_inside(const fs::path& out, const fs::path& input);

}  // namespace yz
