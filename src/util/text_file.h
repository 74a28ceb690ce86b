// Reads text inputs whole, transparently decompressing .xz files (the shared corpora are .xz).
#pragma once

#include <cstddef>
#include <string>

#include "util/fs.h"

namespace yz {

// Whole file; `.xz` files are decompressed. `max_bytes` > 0 stops after that many output bytes.
std::string read_text_input(const fs::path& path, size_t max_bytes = 0);

}  // namespace yz
