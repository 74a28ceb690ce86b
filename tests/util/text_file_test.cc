// .xz inputs decompress transparently; corrupt ones fail with a named error.
#include <gtest/gtest.h>
#include <lzma.h>

#include "test_util.h"
#include "util/error.h"
#include "util/text_file.h"

namespace yz {
namespace {

std::string xz_compress(const std::string& s) {
  std::string out(s.size() + 1024, '\0');
  size_t pos = 0;
  lzma_ret r = lzma_easy_buffer_encode(6, LZMA_CHECK_CRC64, nullptr,
                                       reinterpret_cast<const uint8_t*>(s.data()), s.size(),
                                       reinterpret_cast<uint8_t*>(out.data()), &pos, out.size());
  EXPECT_EQ(r, LZMA_OK);
  out.resize(pos);
  return out;
}

TEST(TextInput, ReadsPlainAndXz) {
  test::TempDir dir;
  std::string text;
  for (int i = 0; i < 20000; ++i) text += "line " + std::to_string(i * 7919 % 1000) + " 中文\n";
  write_file_atomic(dir / "a.txt", text);
  write_file_atomic(dir / "a.txt.xz", xz_compress(text));
  EXPECT_EQ(read_text_input(dir / "a.txt"), text);
  EXPECT_EQ(read_text_input(dir / "a.txt.xz"), text);
  EXPECT_EQ(read_text_input(dir / "a.txt.xz", 1000), text.substr(0, 1000));
  std::string corrupt = xz_compress(text);
  corrupt.resize(corrupt.size() / 2);
  write_file_atomic(dir / "bad.txt.xz", corrupt);
  try {
    read_text_input(dir / "bad.txt.xz");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("bad.txt.xz"), std::string::npos);
  }
}

}  // namespace
}  // namespace yz
