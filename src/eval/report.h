// Result tables: one or more `youzhi eval` results side by side (rows: task and metric; a
// majority-class baseline column; one column per run), as aligned text or markdown.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

namespace yz {

struct TableRow {
  std::string task, metric, baseline;
  std::vector<std::string> values;  // one per run ("" where a run lacks it)
};

// runs: (column name, result JSON as `youzhi eval --out` writes it).
std::vector<TableRow> compare_rows(
    const std::vector<std::pair<std::string, nlohmann::ordered_json>>& runs);

std::string render_table(const std::vector<std::pair<std::string, nlohmann::ordered_json>>& runs,
                         bool markdown);

}  // namespace yz
