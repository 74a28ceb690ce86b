// Text input reading with .xz support through liblzma (see text_file.h).
#include "util/text_file.h"

#include <lzma.h>

#include <vector>

#include "util/error.h"

namespace yz {

std::string read_text_input(const fs::path& path, size_t max_bytes) {
  if (path.extension() != ".xz") {
    std::string s = read_text_file(path);
    if (max_bytes > 0 && s.size() > max_bytes) s.resize(max_bytes);
    return s;
  }
  auto file = MappedFile::open(path);
  lzma_stream strm = LZMA_STREAM_INIT;
  YZ_CHECK(lzma_stream_decoder(&strm, UINT64_MAX, LZMA_CONCATENATED) == LZMA_OK, path.string(),
           ": cannot start the xz decoder");
  strm.next_in = file->data();
  strm.avail_in = file->size();
  std::string out;
  std::vector<uint8_t> buf(1 << 20);
  lzma_ret ret = LZMA_OK;
  while (ret == LZMA_OK) {
    strm.next_out = buf.data();
    strm.avail_out = buf.size();
    ret = lzma_code(&strm, LZMA_FINISH);
    out.append(reinterpret_cast<char*>(buf.data()), buf.size() - strm.avail_out);
    if (max_bytes > 0 && out.size() >= max_bytes) {
      out.resize(max_bytes);
      ret = LZMA_STREAM_END;
    }
  }
  lzma_end(&strm);
  YZ_CHECK(ret == LZMA_STREAM_END, path.string(), ": corrupt or truncated xz data (lzma error ",
           static_cast<int>(ret), ")");
  return out;
}

}  // namespace yz
