// Parsing of token-id lists given on the command line or in files.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace yz::apps {

// "1,2,3", "1 2 3", "[1, 2, 3]" or {"ids": [1, 2, 3]}; `where` names the source in errors.
std::vector<int32_t> parse_ids(const std::string& text, const std::string& where);

// Throws naming the first id outside [0, vocab_size).
void check_ids_in_range(const std::vector<int32_t>& ids, int64_t vocab_size);

}  // namespace yz::apps
