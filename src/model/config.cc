// config.json parsing (see config.h). Field names and defaults follow transformers'
// LlamaConfig, MistralConfig, Qwen2Config, Qwen3Config, DeepseekV2Config and DeepseekV3Config,
// in both the classic (rope_theta / rope_scaling / torch_dtype) and the transformers-5
// (rope_parameters / dtype) spellings.
#include "model/config.h"

#include "util/error.h"
#include "util/json_file.h"

namespace yz {

using nlohmann::json;

namespace {

struct Reader {
  const json& j;
  const std::string& src;

  bool has(const char* key) const { return j.contains(key) && !j[key].is_null(); }

  int64_t positive(const char* key) const {
    YZ_CHECK(has(key), src, ": missing field '", key, "'");
    YZ_CHECK(j[key].is_number_integer(), src, ": field '", key, "' must be an integer");
    int64_t v = j[key].get<int64_t>();
    YZ_CHECK(v > 0, src, ": field '", key, "' must be positive (got ", v, ")");
    return v;
  }
  int64_t positive_or(const char* key, int64_t fallback) const {
    return has(key) ? positive(key) : fallback;
  }
  double number_or(const json& obj, const char* key, double fallback) const {
    if (!obj.contains(key) || obj[key].is_null()) return fallback;
    YZ_CHECK(obj[key].is_number(), src, ": field '", key, "' must be a number");
    return obj[key].get<double>();
  }
  bool flag_or(const char* key, bool fallback) const {
    if (!has(key)) return fallback;
    YZ_CHECK(j[key].is_boolean(), src, ": field '", key, "' must be true or false");
    return j[key].get<bool>();
  }
};

RopeConfig parse_rope(const Reader& r) {
  const json& j = r.j;
  RopeConfig rope;
  // transformers 5: everything under rope_parameters; classic: rope_theta + rope_scaling.
  json params = json::object();
  if (r.has("rope_parameters")) {
    YZ_CHECK(j["rope_parameters"].is_object(), r.src, ": rope_parameters must be an object");
    params = j["rope_parameters"];
  }
  if (r.has("rope_scaling")) {
    YZ_CHECK(j["rope_scaling"].is_object(), r.src, ": rope_scaling must be an object or null");
    for (auto it = j["rope_scaling"].begin(); it != j["rope_scaling"].end(); ++it)
      params[it.key()] = it.value();
  }
  rope.theta = r.number_or(params, "rope_theta", r.number_or(j, "rope_theta", 10000.0));
  YZ_CHECK(rope.theta > 0, r.src, ": rope_theta must be positive");
  std::string type = "default";
  if (params.contains("rope_type") && params["rope_type"].is_string())
    type = params["rope_type"].get<std::string>();
  else if (params.contains("type") && params["type"].is_string())
    type = params["type"].get<std::string>();
  if (type == "default") {
    rope.type = RopeType::kDefault;
  } else if (type == "linear") {
    rope.type = RopeType::kLinear;
  } else if (type == "llama3") {
    rope.type = RopeType::kLlama3;
    rope.low_freq_factor = r.number_or(params, "low_freq_factor", 1.0);
    rope.high_freq_factor = r.number_or(params, "high_freq_factor", 4.0);
    YZ_CHECK(rope.high_freq_factor > rope.low_freq_factor, r.src,
             ": llama3 rope scaling needs high_freq_factor > low_freq_factor");
  } else if (type == "yarn") {
    rope.type = RopeType::kYarn;
    rope.beta_fast = r.number_or(params, "beta_fast", 32.0);
    rope.beta_slow = r.number_or(params, "beta_slow", 1.0);
    if (params.contains("mscale") && !params["mscale"].is_null())
      rope.mscale = r.number_or(params, "mscale", 1.0);
    if (params.contains("mscale_all_dim") && !params["mscale_all_dim"].is_null())
      rope.mscale_all_dim = r.number_or(params, "mscale_all_dim", 0.0);
    if (params.contains("attention_factor") && !params["attention_factor"].is_null())
      rope.attention_factor = r.number_or(params, "attention_factor", 1.0);
  } else {
    YZ_CHECK(false, r.src, ": rope scaling type '", type,
             "' is not supported (supported: default, linear, llama3, yarn)");
  }
  if (rope.type != RopeType::kDefault) {
    rope.factor = r.number_or(params, "factor", 1.0);
    YZ_CHECK(rope.factor >= 1.0, r.src, ": rope scaling factor must be >= 1 (got ", rope.factor,
             ")");
    rope.original_max_position_embeddings = static_cast<int64_t>(r.number_or(
        params, "original_max_position_embeddings",
        r.number_or(j, "original_max_position_embeddings", 0.0)));
    YZ_CHECK(rope.type == RopeType::kLinear || rope.original_max_position_embeddings > 0, r.src,
             ": ", type, " rope scaling needs original_max_position_embeddings");
  }
  return rope;
}

// A list field of length L or a scalar broadcast to L layers (our `native` MLA extension).
std::vector<int64_t> per_layer(const Reader& r, const char* key, int64_t layers) {
  YZ_CHECK(r.has(key), r.src, ": missing field '", key, "'");
  const json& v = r.j[key];
  std::vector<int64_t> out;
  if (v.is_array()) {
    YZ_CHECK(static_cast<int64_t>(v.size()) == layers, r.src, ": field '", key, "' lists ",
             v.size(), " values for ", layers, " layers");
    for (const json& x : v) {
      YZ_CHECK(x.is_number_integer() && x.get<int64_t>() > 0, r.src, ": field '", key,
               "' must hold positive integers");
      out.push_back(x.get<int64_t>());
    }
  } else {
    out.assign(layers, r.positive(key));
  }
  return out;
}

}  // namespace

const char* family_name(Family f) { return f == Family::kGqa ? "gqa" : "mla"; }

const char* rope_type_name(RopeType t) {
  switch (t) {
    case RopeType::kDefault: return "default";
    case RopeType::kLinear: return "linear";
    case RopeType::kLlama3: return "llama3";
    case RopeType::kYarn: return "yarn";
  }
  return "?";
}

int64_t ModelConfig::kv_elements_per_token() const {
  if (family == Family::kGqa) return 2 * num_key_value_heads * head_dim * num_hidden_layers;
  int64_t n = 0;
  for (const auto& l : mla_layers) n += l.kv_lora_rank + l.qk_rope_head_dim;
  return n;
}

namespace {
ModelConfig parse_config_impl(const json& j, const std::string& src) {
  YZ_CHECK(j.is_object(), src, ": not a JSON object");
  Reader r{j, src};
  ModelConfig c;
  YZ_CHECK(r.has("model_type") && j["model_type"].is_string(), src, ": missing 'model_type'");
  c.model_type = j["model_type"].get<std::string>();
  const std::string& mt = c.model_type;
  const bool gqa = mt == "llama" || mt == "mistral" || mt == "qwen2" || mt == "qwen3";
  const bool mla = mt == "deepseek_v2" || mt == "deepseek_v3";
  YZ_CHECK(gqa || mla, src, ": model_type '", mt, "' is not supported (supported: llama, ",
           "mistral, qwen2, qwen3, deepseek_v2, deepseek_v3)");
  c.family = gqa ? Family::kGqa : Family::kMla;

  if (r.has("dtype")) c.torch_dtype = j["dtype"].get<std::string>();
  else if (r.has("torch_dtype")) c.torch_dtype = j["torch_dtype"].get<std::string>();

  c.vocab_size = r.positive("vocab_size");
  c.hidden_size = r.positive("hidden_size");
  c.intermediate_size = r.positive("intermediate_size");
  c.num_hidden_layers = r.positive("num_hidden_layers");
  c.num_attention_heads = r.positive("num_attention_heads");
  c.num_key_value_heads = r.positive_or("num_key_value_heads", c.num_attention_heads);
  c.max_position_embeddings = r.positive_or("max_position_embeddings", 2048);
  c.rms_norm_eps = r.number_or(j, "rms_norm_eps", 1e-6);
  YZ_CHECK(c.rms_norm_eps > 0, src, ": rms_norm_eps must be positive");
  c.tie_word_embeddings = r.flag_or("tie_word_embeddings", false);
  c.rope = parse_rope(r);
  if (r.has("bos_token_id")) c.bos_token_id = j["bos_token_id"].get<int64_t>();
  if (r.has("eos_token_id")) {
    const json& e = j["eos_token_id"];
    if (e.is_array()) {
      for (const json& x : e) c.eos_token_ids.push_back(x.get<int64_t>());
    } else {
      c.eos_token_ids.push_back(e.get<int64_t>());
    }
  }

  if (gqa) {
    YZ_CHECK(c.num_attention_heads % c.num_key_value_heads == 0, src, ": num_attention_heads (",
             c.num_attention_heads, ") is not a multiple of num_key_value_heads (",
             c.num_key_value_heads, ")");
    if (r.has("head_dim")) {
      c.head_dim = r.positive("head_dim");
    } else {
      YZ_CHECK(c.hidden_size % c.num_attention_heads == 0, src, ": hidden_size (", c.hidden_size,
               ") is not a multiple of num_attention_heads and head_dim is absent");
      c.head_dim = c.hidden_size / c.num_attention_heads;
    }
    YZ_CHECK(c.head_dim % 2 == 0, src, ": head_dim must be even for rotary embeddings");
    // Qwen2 always has q/k/v biases (Qwen2Attention: bias=True); Llama/Qwen3 follow
    // attention_bias; Mistral has none.
    c.attention_bias = mt == "qwen2" ? true : (mt == "mistral" ? false
                                                               : r.flag_or("attention_bias", false));
    c.qk_norm = mt == "qwen3";
    // Sliding window counts only where the model applies it.
    bool sliding = false;
    if (mt == "mistral") sliding = r.has("sliding_window");
    else if (mt == "qwen2" || mt == "qwen3") sliding = r.flag_or("use_sliding_window", false);
    if (r.has("layer_types")) {
      for (const json& t : j["layer_types"])
        if (t.is_string() && t.get<std::string>() == "sliding_attention") sliding = true;
    }
    if (sliding && r.has("sliding_window")) c.sliding_window = j["sliding_window"].get<int64_t>();
    return c;
  }

  // --- MLA (DeepSeek-V2/V3 dense) ---
  // transformers' DeepseekV3 builds an MoE block for layer i when n_routed_experts is set,
  // i >= first_k_dense_replace and i % moe_layer_freq == 0; absent fields take the stock
  // defaults (256 experts, first 3 dense), which do build MoE layers.
  const int64_t experts = r.has("n_routed_experts") ? j["n_routed_experts"].get<int64_t>()
                                                    : (mt == "deepseek_v3" ? 256 : 64);
  const int64_t first_dense = r.has("first_k_dense_replace")
                                  ? j["first_k_dense_replace"].get<int64_t>()
                                  : (mt == "deepseek_v3" ? 3 : 0);
  const int64_t freq = r.has("moe_layer_freq") ? j["moe_layer_freq"].get<int64_t>() : 1;
  if (r.j.contains("n_routed_experts") && j["n_routed_experts"].is_null()) {
    // explicitly dense
  } else if (experts > 0) {
    for (int64_t i = 0; i < c.num_hidden_layers; ++i) {
      YZ_CHECK(!(i >= first_dense && freq > 0 && i % freq == 0), src,
               ": MoE is not supported: this config builds mixture-of-experts layers (",
               experts, " routed experts from layer ", first_dense,
               "); only dense DeepSeek models (n_routed_experts: null or first_k_dense_replace >= ",
               "num_hidden_layers) can be used");
    }
  }
  if (r.has("q_lora_rank")) c.q_lora_rank = r.positive("q_lora_rank");
  c.qk_nope_head_dim = r.positive("qk_nope_head_dim");
  c.v_head_dim = r.positive("v_head_dim");
  std::vector<int64_t> ranks = per_layer(r, "kv_lora_rank", c.num_hidden_layers);
  std::vector<int64_t> ropes = per_layer(r, "qk_rope_head_dim", c.num_hidden_layers);
  for (int64_t i = 0; i < c.num_hidden_layers; ++i) {
    YZ_CHECK(ropes[i] % 2 == 0, src, ": qk_rope_head_dim of layer ", i, " must be even");
    c.mla_layers.push_back({ranks[i], ropes[i]});
  }
  // head_dim for MLA is the query/key head width (nope + rope of layer 0).
  c.head_dim = c.qk_nope_head_dim + ropes[0];
  c.attention_bias = r.flag_or("attention_bias", false);
  c.qk_latent_layernorm = r.flag_or("qk_latent_layernorm", true);
  c.rope_interleave = r.flag_or("rope_interleave", true);
  return c;
}
}  // namespace

ModelConfig parse_config(const json& j, const std::string& src) {
  try {
    return parse_config_impl(j, src);
  } catch (const json::exception& e) {  // a field of the wrong JSON type
    YZ_CHECK(false, src, ": malformed config (", e.what(), ")");
  }
}

ModelConfig load_config(const fs::path& path) {
  fs::path file = fs::is_directory(path) ? path / "config.json" : path;
  YZ_CHECK(fs::is_regular_file(file), file.string(), ": no such file (expected a model directory ",
           "with config.json)");
  return parse_config(read_json_file(file), file.string());
}

}  // namespace yz
