// JSON file reading (see json_file.h).
#include "util/json_file.h"

#include "util/error.h"
#include "util/text_file.h"

namespace yz {

nlohmann::json read_json_file(const fs::path& path) {
  try {
    return nlohmann::json::parse(read_text_input(path));
  } catch (const nlohmann::json::exception& e) {
    YZ_CHECK(false, path.string(), ": not valid JSON (", e.what(), ")");
  }
}

}  // namespace yz
