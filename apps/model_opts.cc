// Shared model options (see model_opts.h).
#include "apps/model_opts.h"

#include "util/json_file.h"

namespace yz::apps {

void ModelOpts::add(CLI::App& app, bool required) {
  auto* m =
      app.add_option("MODEL", model, "Model directory (config.json, safetensors, tokenizer.json)");
  if (required) m->required();
  app.add_option("--device", device, "cpu or cuda[:N]");
  app.add_option("--dtype", dtype, "float32, bfloat16 or float16");
}

CausalLm ModelOpts::load() const {
  LoadOptions o;
  o.device = parse_device(device);
  o.dtype = parse_dtype_name(dtype.empty() ? (o.device.is_cuda() ? "bfloat16" : "float32") : dtype);
  return load_causal_lm(model, o);
}

std::vector<int32_t> generation_config_eos(const fs::path& dir) {
  std::vector<int32_t> out;
  if (fs::is_regular_file(dir / "generation_config.json")) {
    nlohmann::json g = read_json_file(dir / "generation_config.json");
    if (g.contains("eos_token_id")) {
      const auto& e = g["eos_token_id"];
      if (e.is_number_integer()) out.push_back(e.get<int32_t>());
      if (e.is_array())
        for (const auto& x : e) out.push_back(x.get<int32_t>());
    }
  }
  return out;
}

std::vector<int32_t> chat_end_tokens(const tok::Tokenizer& tk, const tmpl::ChatTemplate& chat) {
  std::vector<int32_t> end = tk.encode(chat.assistant_suffix(), /*add_special_tokens=*/false);
  if (!end.empty() && tk.is_special(end[0])) return {end[0]};
  return {};
}

std::vector<int32_t> stop_ids(const CausalLm& lm, const fs::path& dir, const tok::Tokenizer& tk,
                              const tmpl::ChatTemplate* chat) {
  std::vector<int32_t> out(lm->config.eos_token_ids.begin(), lm->config.eos_token_ids.end());
  for (int32_t id : generation_config_eos(dir)) out.push_back(id);
  if (chat)
    for (int32_t id : chat_end_tokens(tk, *chat)) out.push_back(id);
  return out;
}

}  // namespace yz::apps
