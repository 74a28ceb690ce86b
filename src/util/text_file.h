// Reads text inputs whole, transparently decompressing .xz files (the shared corpora are .xz).
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "util/fs.h"

namespace yz {

// Whole file; `.xz` files are decompressed. `max_bytes` > 0 stops after that many output bytes.
std::string read_text_input(const fs::path& path, size_t max_bytes = 0);

// Documents of one file: JSONL (.jsonl / .json lines) by its "text" field, else blank-line
// separated paragraphs of the (possibly .xz) text; lines when it has no blank lines. Calibration
// samples them; the trainer packs them with attention kept inside each.
std::vector<std::string> read_documents(const fs::path& path);

}  // namespace yz
