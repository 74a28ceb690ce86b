// Stop token ids (see stop_ids.h).
#include "apps/stop_ids.h"

#include "util/json_file.h"

namespace yz::apps {

std::vector<int32_t> generation_config_eos(const fs::path& dir) {
  std::vector<int32_t> out;
  if (!fs::is_regular_file(dir / "generation_config.json")) return out;
  nlohmann::json g = read_json_file(dir / "generation_config.json");
  if (g.contains("eos_token_id")) {
    const auto& e = g["eos_token_id"];
    if (e.is_number_integer()) out.push_back(e.get<int32_t>());
    if (e.is_array())
      for (const auto& x : e) out.push_back(x.get<int32_t>());
  }
  return out;
}

std::vector<int32_t> chat_end_tokens(const tok::Tokenizer& tk) {
  std::vector<int32_t> out;
  if (auto id = tk.token_to_id("<|im_end|>")) out.push_back(*id);
  return out;
}

}  // namespace yz::apps
