// Helpers shared by the tests: paths to the repository and to ../shared, temporary directories.
#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <functional>
#include <stdexcept>
#include <stdlib.h>
#include <string>

#include "util/error.h"
#include "util/fs.h"

namespace yz::test {

namespace fs = std::filesystem;

inline fs::path source_dir() { return YZ_SOURCE_DIR; }
inline fs::path shared_dir() { return YZ_SHARED_DIR; }
inline fs::path data_dir() { return source_dir() / "tests" / "data"; }

// The message of the yz::Error that f throws, "(no error)" when it throws none.
inline std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

// A fresh directory under the system temp dir, removed when the object dies.
class TempDir {
 public:
  TempDir() {
    std::string templ = (fs::temp_directory_path() / "yz_test_XXXXXX").string();
    if (::mkdtemp(templ.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = templ;
  }
  ~TempDir() {
    remove_tree(path_);
  }
  const fs::path& path() const { return path_; }
  fs::path operator/(const std::string& name) const { return path_ / name; }

 private:
  fs::path path_;
};

}  // namespace yz::test
