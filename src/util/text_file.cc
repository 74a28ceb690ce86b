// Text input reading with .xz support through liblzma (see text_file.h).
#include "util/text_file.h"

#include <lzma.h>

#include <nlohmann/json.hpp>
#include <sstream>
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

std::vector<std::string> read_documents(const fs::path& path) {
  const std::string text = read_text_input(path);
  std::vector<std::string> docs;
  std::string name = path.filename().string();
  if (name.size() > 3 && name.substr(name.size() - 3) == ".xz") name.resize(name.size() - 3);
  if (name.size() > 6 && name.substr(name.size() - 6) == ".jsonl") {
    std::istringstream in(text);
    std::string line;
    int64_t n = 0;
    while (std::getline(in, line)) {
      ++n;
      if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
      try {
        nlohmann::json j = nlohmann::json::parse(line);
        YZ_CHECK(j.contains("text") && j["text"].is_string(), path.string(), ": line ", n,
                 " has no string \"text\" field");
        if (!j["text"].get<std::string>().empty()) docs.push_back(j["text"].get<std::string>());
      } catch (const nlohmann::json::exception& e) {
        YZ_CHECK(false, path.string(), ": line ", n, " is not JSON (", e.what(), ")");
      }
    }
    return docs;
  }
  // Paragraphs separated by blank lines; a text without them is taken line by line.
  for (const char* sep : {"\n\n", "\n"}) {
    docs.clear();
    const size_t step = std::char_traits<char>::length(sep);
    size_t pos = 0;
    while (pos < text.size()) {
      size_t end = text.find(sep, pos);
      if (end == std::string::npos) end = text.size();
      if (text.find_first_not_of(" \t\r\n", pos) < end) docs.push_back(text.substr(pos, end - pos));
      pos = end + step;
    }
    if (docs.size() > 1) break;
  }
  return docs;
}

}  // namespace yz
