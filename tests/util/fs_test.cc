// StagedDir: outputs appear only when complete, existing outputs need --overwrite, inputs are
// protected; atomic single-file writes.
#include <gtest/gtest.h>

#include "test_util.h"
#include "util/error.h"
#include "util/fs.h"

namespace yz {
namespace {

using test::TempDir;

TEST(StagedDir, AppearsOnlyOnCommit) {
  TempDir dir;
  fs::path out = dir / "out";
  {
    StagedDir staged(out, /*overwrite=*/false);
    write_file_atomic(staged.path() / "a.txt", "hello");
    EXPECT_FALSE(fs::exists(out));
    EXPECT_EQ(staged.path().parent_path(), dir.path());  // staging sits next to the target
  }  // abandoned: an interrupted job
  EXPECT_FALSE(fs::exists(out));
  EXPECT_TRUE(fs::is_empty(dir.path())) << "staging directory left behind";
  {
    StagedDir staged(out, false);
    write_file_atomic(staged.path() / "a.txt", "hello");
    staged.commit();
  }
  EXPECT_EQ(read_text_file(out / "a.txt"), "hello");
}

TEST(StagedDir, RefusesExistingOutputWithoutOverwrite) {
  TempDir dir;
  fs::path out = dir / "out";
  fs::create_directories(out);
  write_file_atomic(out / "old.txt", "old");
  try {
    StagedDir staged(out, false);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("--overwrite"), std::string::npos);
  }
  StagedDir staged(out, /*overwrite=*/true);
  write_file_atomic(staged.path() / "new.txt", "new");
  EXPECT_TRUE(fs::exists(out / "old.txt"));  // untouched until commit
  staged.commit();
  EXPECT_FALSE(fs::exists(out / "old.txt"));
  EXPECT_EQ(read_text_file(out / "new.txt"), "new");
}

TEST(StagedDir, ProtectsInputs) {
  TempDir dir;
  fs::path in = dir / "model";
  fs::create_directories(in);
  write_file_atomic(in / "config.json", "{}");
  EXPECT_THROW(StagedDir(in, true, {in}), Error);                 // same directory
  EXPECT_THROW(StagedDir(in / "sub", true, {in}), Error);         // inside the input
  EXPECT_THROW(StagedDir(dir.path(), true, {in}), Error);         // contains the input
  EXPECT_THROW(StagedDir(in, true, {in / "config.json"}), Error);  // input given as a file
  EXPECT_NO_THROW(StagedDir(dir / "other", true, {in}));
  write_file_atomic(dir / "data.txt", "text");  // a data file: only the file itself is protected
  EXPECT_THROW(StagedDir(dir / "data.txt", true, {dir / "data.txt"}), Error);
  EXPECT_NO_THROW(StagedDir(dir / "run", true, {dir / "data.txt"}));
  EXPECT_EQ(read_text_file(in / "config.json"), "{}");
}

TEST(WriteFileAtomic, ReplacesWholeFile) {
  TempDir dir;
  write_file_atomic(dir / "f", std::string(10000, 'a'));
  write_file_atomic(dir / "f", "b");
  EXPECT_EQ(read_text_file(dir / "f"), "b");
  EXPECT_THROW(write_file_atomic(dir / "missing_dir" / "f", "x"), Error);
  EXPECT_THROW(read_text_file(dir / "nope"), Error);
}

}  // namespace
}  // namespace yz
