// Tokenizer encode throughput: the first --mb megabytes of a corpus (cut at a line end), encoded
// line by line on one thread, as bench/tokenizer_hf.py does with the `tokenizers` library.
// Prints MB/s and token count; --json writes them for bench/run_tokenizer_bench.sh.
#include <chrono>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "tokenizer/tokenizer.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/text_file.h"

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: bench_tokenizer TOKENIZER.json TEXT[.xz] [MB=10] [OUT.json]\n");
    return 2;
  }
  try {
    const double mb = argc > 3 ? std::stod(argv[3]) : 10.0;
    yz::tok::Tokenizer tk = yz::tok::Tokenizer::from_file(argv[1]);
    std::string text = yz::read_text_input(argv[2], static_cast<size_t>(mb * 1e6));
    text.resize(text.rfind('\n') + 1);
    std::vector<std::string_view> lines;
    for (size_t b = 0; b < text.size();) {
      size_t e = text.find('\n', b);
      e = e == std::string::npos ? text.size() : e + 1;
      lines.emplace_back(text.data() + b, e - b);
      b = e;
    }
    double best = 1e30;
    size_t tokens = 0;
    for (int rep = 0; rep < 3; ++rep) {  // best of 3; the first run also fills the word cache
      auto t0 = std::chrono::steady_clock::now();
      tokens = 0;
      for (auto line : lines) tokens += tk.encode(line, false).size();
      best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    }
    const double mbps = text.size() / best / 1e6;
    std::printf("youzhi  %8.2f MB/s  %zu bytes  %zu lines  %zu tokens\n", mbps, text.size(),
                lines.size(), tokens);
    if (argc > 4) {
      nlohmann::json j = {{"impl", "youzhi"}, {"mb_per_s", mbps}, {"bytes", text.size()},
                          {"lines", lines.size()}, {"tokens", tokens}, {"threads", 1}};
      yz::write_file_atomic(argv[4], j.dump(2) + "\n");
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}
