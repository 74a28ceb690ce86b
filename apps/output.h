// Human-readable printing shared by the CLI commands.
#pragma once

#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>

namespace yz::apps {

// Prints "key  value" lines for the scalar fields of `j` (nested values as compact JSON).
inline void print_table(const nlohmann::ordered_json& j) {
  size_t width = 0;
  for (auto it = j.begin(); it != j.end(); ++it) width = std::max(width, it.key().size());
  for (auto it = j.begin(); it != j.end(); ++it) {
    std::string v = it.value().is_string() ? it.value().get<std::string>() : it.value().dump();
    std::printf("%-*s  %s\n", static_cast<int>(width), it.key().c_str(), v.c_str());
  }
}

}  // namespace yz::apps
