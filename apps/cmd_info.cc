// `youzhi info MODEL`: family, shapes, parameters, KV-cache bytes per token and what they mean
// for concurrency.
#include <cstdio>
#include <nlohmann/json.hpp>

#include "apps/commands.h"
#include "apps/output.h"
#include "model/config.h"
#include "model/hf_names.h"
#include "util/error.h"
#include "util/safetensors.h"

namespace yz::apps {

namespace {

nlohmann::ordered_json describe(const fs::path& model) {
  const ModelConfig c = load_config(model);
  nlohmann::ordered_json j;
  j["model"] = model.string();
  j["family"] = family_name(c.family);
  j["model_type"] = c.model_type;
  j["num_hidden_layers"] = c.num_hidden_layers;
  j["hidden_size"] = c.hidden_size;
  j["intermediate_size"] = c.intermediate_size;
  j["num_attention_heads"] = c.num_attention_heads;
  j["num_key_value_heads"] = c.num_key_value_heads;
  j["head_dim"] = c.head_dim;
  if (c.family == Family::kMla) {
    j["q_lora_rank"] = c.q_lora_rank ? nlohmann::ordered_json(*c.q_lora_rank) : nullptr;
    j["kv_lora_rank"] = c.mla_layers[0].kv_lora_rank;
    j["qk_rope_head_dim"] = c.mla_layers[0].qk_rope_head_dim;
    j["qk_nope_head_dim"] = c.qk_nope_head_dim;
    j["v_head_dim"] = c.v_head_dim;
    nlohmann::ordered_json layers = nlohmann::ordered_json::array();
    for (const auto& l : c.mla_layers)
      layers.push_back({{"kv_lora_rank", l.kv_lora_rank}, {"qk_rope_head_dim", l.qk_rope_head_dim}});
    j["layers"] = layers;
  }
  j["vocab_size"] = c.vocab_size;
  j["num_params"] = num_params(c);
  j["attention_bias"] = c.attention_bias;
  j["tie_word_embeddings"] = c.tie_word_embeddings;
  j["rope_theta"] = c.rope.theta;
  j["rope_type"] = rope_type_name(c.rope.type);
  j["dtype"] = c.torch_dtype;
  j["kv_elements_per_token"] = c.kv_elements_per_token();
  j["kv_bytes_per_token_bf16"] = c.kv_bytes_per_token_bf16();
  // Sequences of 2048 tokens whose bf16 KV cache fits in 1 GiB (vLLM's concurrency formula
  // with a 1 GiB pool): the figure MLA conversion exists to raise.
  j["max_seqs_2k_per_gib"] = (int64_t{1} << 30) / (c.kv_bytes_per_token_bf16() * 2048);
  if (has_safetensors(model)) {
    Checkpoint ckpt(model);
    j["checkpoint_params"] = ckpt.num_params();
    j["checkpoint_bytes"] = ckpt.num_bytes();
    std::vector<std::string> problems = check_checkpoint(c, ckpt);
    j["checkpoint_matches_config"] = problems.empty();
    if (!problems.empty()) j["checkpoint_problems"] = problems;
  }
  return j;
}

}  // namespace

Command add_info(CLI::App& app) {
  struct Opts {
    std::string model;
    bool json = false;
  };
  auto o = std::make_shared<Opts>();
  app.add_option("MODEL", o->model, "Model directory (config.json [+ safetensors])")->required();
  app.add_flag("--json", o->json, "Print one JSON object");
  return [o]() {
    nlohmann::ordered_json j = describe(o->model);
    if (o->json) {
      std::printf("%s\n", j.dump().c_str());
      return 0;
    }
    print_table(j);
    return 0;
  };
}

}  // namespace yz::apps
