// Reads a JSON file whole; a parse failure names the file (config.json, tokenizer.json, index).
#pragma once

#include <nlohmann/json.hpp>

#include "util/fs.h"

namespace yz {

nlohmann::json read_json_file(const fs::path& path);

}  // namespace yz
