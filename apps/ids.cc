// Token-id list parsing (see ids.h).
#include "apps/ids.h"

#include <climits>
#include <nlohmann/json.hpp>
#include <sstream>

#include "util/error.h"

namespace yz::apps {

std::vector<int32_t> parse_ids(const std::string& text, const std::string& where) {
  std::vector<int32_t> ids;
  size_t first = text.find_first_not_of(" \t\r\n");
  if (first != std::string::npos && text[first] == '{') {
    try {
      for (const auto& v : nlohmann::json::parse(text).at("ids")) ids.push_back(v.get<int32_t>());
    } catch (const nlohmann::json::exception& e) {
      YZ_CHECK(false, where, ": expected {\"ids\": [...]} (", e.what(), ")");
    }
    return ids;
  }
  std::string cleaned = text;
  for (char& c : cleaned)
    if (c == ',' || c == '[' || c == ']') c = ' ';
  std::istringstream in(cleaned);
  std::string tok;
  while (in >> tok) {
    size_t used = 0;
    long long v = 0;
    try {
      v = std::stoll(tok, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    YZ_CHECK(used == tok.size() && v >= 0 && v <= INT32_MAX, where, ": '", tok,
             "' is not a token id");
    ids.push_back(static_cast<int32_t>(v));
  }
  return ids;
}

void check_ids_in_range(const std::vector<int32_t>& ids, int64_t vocab_size) {
  for (int32_t id : ids)
    YZ_CHECK(id < vocab_size, "token id ", id, " is out of range (vocabulary ", vocab_size, ")");
}

}  // namespace yz::apps
