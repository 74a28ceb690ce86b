// config.json parsing against the published configs of real checkpoints (tests/data/configs),
// both spellings of rope/dtype fields, per-layer MLA dims, and every rejection path.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "model/config.h"
#include "model/hf_names.h"
#include "test_util.h"
#include "util/error.h"
#include "util/safetensors.h"

namespace yz {
namespace {

using nlohmann::json;

json fixture(const std::string& name) {
  return json::parse(read_text_file(test::data_dir() / "configs" / (name + ".json")));
}

// Expects parse_config to throw an error whose message contains `needle`.
void expect_error(const json& j, const std::string& needle) {
  try {
    parse_config(j, "config.json");
    FAIL() << "accepted; expected error containing: " << needle;
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("config.json"), std::string::npos) << e.what();
  }
}

struct Published {
  const char* name;
  const char* model_type;
  int64_t layers, heads, kv_heads, head_dim;
  int64_t num_params;  // as published for the checkpoint
  int64_t kv_elements_per_token;
  bool bias, tied;
  RopeType rope;
  double theta;
};

void PrintTo(const Published& p, std::ostream* os) { *os << p.name; }

class PublishedConfig : public ::testing::TestWithParam<Published> {};

TEST_P(PublishedConfig, ParsesWithPublishedShapes) {
  const Published& p = GetParam();
  ModelConfig c = parse_config(fixture(p.name), p.name);
  EXPECT_EQ(c.family, Family::kGqa);
  EXPECT_EQ(c.model_type, p.model_type);
  EXPECT_EQ(c.num_hidden_layers, p.layers);
  EXPECT_EQ(c.num_attention_heads, p.heads);
  EXPECT_EQ(c.num_key_value_heads, p.kv_heads);
  EXPECT_EQ(c.head_dim, p.head_dim);
  EXPECT_EQ(num_params(c), p.num_params);
  EXPECT_EQ(c.kv_elements_per_token(), p.kv_elements_per_token);
  EXPECT_EQ(c.kv_bytes_per_token_bf16(), 2 * p.kv_elements_per_token);
  EXPECT_EQ(c.attention_bias, p.bias);
  EXPECT_EQ(c.tie_word_embeddings, p.tied);
  EXPECT_EQ(c.rope.type, p.rope);
  EXPECT_DOUBLE_EQ(c.rope.theta, p.theta);
  EXPECT_FALSE(c.sliding_window.has_value());
  EXPECT_EQ(c.torch_dtype, "bfloat16");
}

// Parameter counts: Qwen2.5 and Llama/Mistral totals as released (safetensors index metadata
// total_size / 2); yz-qwen2-gqa-16m from its own index metadata.
INSTANTIATE_TEST_SUITE_P(
    Table, PublishedConfig,
    ::testing::Values(
        Published{"qwen2.5-7b", "qwen2", 28, 28, 4, 128, 7615616512, 28672, true, false,
                  RopeType::kDefault, 1e6},
        Published{"qwen2.5-14b", "qwen2", 48, 40, 8, 128, 14770033664, 98304, true, false,
                  RopeType::kDefault, 1e6},
        // Qwen2.5-1.5B's model card: 1.54B parameters, 1.31B without the (tied) embedding.
        Published{"qwen2.5-1.5b", "qwen2", 28, 12, 2, 128, 1543714304, 14336, true, true,
                  RopeType::kDefault, 1e6},
        Published{"llama-3.1-8b", "llama", 32, 32, 8, 128, 8030261248, 65536, false, false,
                  RopeType::kLlama3, 5e5},
        Published{"mistral-7b-v0.3", "mistral", 32, 32, 8, 128, 7248023552, 65536, false, false,
                  RopeType::kDefault, 1e6},
        Published{"yz-qwen2-gqa-16m", "qwen2", 8, 6, 2, 64, 15740288, 2048, true, true,
                  RopeType::kDefault, 1e6}),
    [](const auto& info) {
      std::string n = info.param.name;
      for (char& ch : n)
        if (!isalnum(static_cast<unsigned char>(ch))) ch = '_';
      return n;
    });

TEST(Config, Llama31RopeScaling) {
  ModelConfig c = parse_config(fixture("llama-3.1-8b"));
  EXPECT_DOUBLE_EQ(c.rope.factor, 8.0);
  EXPECT_DOUBLE_EQ(c.rope.low_freq_factor, 1.0);
  EXPECT_DOUBLE_EQ(c.rope.high_freq_factor, 4.0);
  EXPECT_EQ(c.rope.original_max_position_embeddings, 8192);
  EXPECT_EQ(c.eos_token_ids, std::vector<int64_t>{128001});
}

TEST(Config, Transformers5SpellingEqualsClassic) {
  json classic = fixture("llama-3.1-8b");
  json v5 = classic;
  v5["rope_parameters"] = classic["rope_scaling"];
  v5["rope_parameters"]["rope_theta"] = classic["rope_theta"];
  v5.erase("rope_scaling");
  v5.erase("rope_theta");
  v5["dtype"] = v5["torch_dtype"];
  v5.erase("torch_dtype");
  ModelConfig a = parse_config(classic), b = parse_config(v5);
  EXPECT_EQ(a.rope.type, b.rope.type);
  EXPECT_DOUBLE_EQ(a.rope.theta, b.rope.theta);
  EXPECT_DOUBLE_EQ(a.rope.factor, b.rope.factor);
  EXPECT_EQ(a.rope.original_max_position_embeddings, b.rope.original_max_position_embeddings);
  EXPECT_EQ(a.torch_dtype, b.torch_dtype);
}

TEST(Config, ExplicitAndAbsentHeadDim) {
  json j = fixture("qwen2.5-7b");
  j["head_dim"] = 128;
  EXPECT_EQ(parse_config(j).head_dim, 128);
  j["head_dim"] = 48;  // non-power-of-two head dims are legal (q_proj is then 28*48 wide)
  ModelConfig c = parse_config(j);
  EXPECT_EQ(c.head_dim, 48);
  EXPECT_EQ(c.kv_elements_per_token(), 28 * 2 * 4 * 48);
  j["head_dim"] = nullptr;  // null means "derive it"
  EXPECT_EQ(parse_config(j).head_dim, 128);
}

TEST(Config, LinearAndYarnScalingParse) {
  json j = fixture("mistral-7b-v0.3");
  j["rope_scaling"] = {{"type", "linear"}, {"factor", 4.0}};
  EXPECT_EQ(parse_config(j).rope.type, RopeType::kLinear);
  j["rope_scaling"] = {{"rope_type", "yarn"}, {"factor", 4.0},
                       {"original_max_position_embeddings", 32768}};
  ModelConfig c = parse_config(j);
  EXPECT_EQ(c.rope.type, RopeType::kYarn);
  EXPECT_DOUBLE_EQ(c.rope.beta_fast, 32.0);
}

TEST(Config, Qwen3IsRecognisedWithQkNorm) {
  json j = fixture("qwen2.5-7b");
  j["model_type"] = "qwen3";
  j["head_dim"] = 128;
  ModelConfig c = parse_config(j);
  EXPECT_TRUE(c.qk_norm);
  EXPECT_FALSE(c.attention_bias);  // Qwen3 follows attention_bias (false by default)
  bool has_q_norm = false;
  for (const auto& t : expected_tensors(c)) has_q_norm |= t.name.find("q_norm") != std::string::npos;
  EXPECT_TRUE(has_q_norm);
}

TEST(Config, SlidingWindowOnlyWhenUsed) {
  json j = fixture("mistral-7b-v0.3");
  j["sliding_window"] = 4096;  // Mistral-7B-v0.1 applies it
  EXPECT_EQ(parse_config(j).sliding_window.value_or(0), 4096);
  json q = fixture("qwen2.5-7b");  // sliding_window present but use_sliding_window false
  EXPECT_FALSE(parse_config(q).sliding_window.has_value());
  q["use_sliding_window"] = true;
  EXPECT_TRUE(parse_config(q).sliding_window.has_value());
}

TEST(Config, PublishedDeepSeekConfigsAreMoE) {
  expect_error(fixture("deepseek-v2-lite"), "MoE is not supported");
  expect_error(fixture("deepseek-v3"), "MoE is not supported");
}

TEST(Config, DenseDeepSeekV2Lite) {
  json j = fixture("deepseek-v2-lite");
  j["n_routed_experts"] = nullptr;
  ModelConfig c = parse_config(j);
  EXPECT_EQ(c.family, Family::kMla);
  EXPECT_FALSE(c.q_lora_rank.has_value());
  EXPECT_EQ(c.mla_layers.size(), 27u);
  EXPECT_EQ(c.mla_layers[5].kv_lora_rank, 512);
  EXPECT_EQ(c.kv_elements_per_token(), 27 * (512 + 64));
  EXPECT_EQ(c.rope.type, RopeType::kYarn);
  EXPECT_DOUBLE_EQ(*c.rope.mscale_all_dim, 0.707);
  EXPECT_EQ(c.head_dim, 192);
  // DeepSeek-V2-Lite attention: q_proj [16*192, 2048], kv_a [576, 2048], kv_b [16*256, 512].
  int64_t attn = 16 * 192 * 2048 + 576 * 2048 + 512 + 16 * 256 * 512 + 2048 * 16 * 128;
  int64_t mlp = 3 * 2048 * 10944, norms = 2 * 2048;
  EXPECT_EQ(num_params(c), 27 * (attn + mlp + norms) + 2 * 102400 * 2048 + 2048);
}

TEST(Config, DenseDeepSeekV3WithQLora) {
  json j = fixture("deepseek-v3");
  j["first_k_dense_replace"] = 61;  // all layers dense
  ModelConfig c = parse_config(j);
  EXPECT_EQ(*c.q_lora_rank, 1536);
  EXPECT_EQ(c.kv_elements_per_token(), 61 * 576);
  EXPECT_TRUE(c.qk_latent_layernorm);
  EXPECT_TRUE(c.rope_interleave);
}

TEST(Config, PerLayerMlaDims) {
  json j = fixture("deepseek-v2-lite");
  j["n_routed_experts"] = nullptr;
  j["num_hidden_layers"] = 3;
  j["kv_lora_rank"] = {96, 128, 64};
  j["qk_rope_head_dim"] = {32, 64, 16};
  j["attention_bias"] = true;
  j["qk_latent_layernorm"] = false;
  ModelConfig c = parse_config(j);
  EXPECT_EQ(c.kv_elements_per_token(), (96 + 32) + (128 + 64) + (64 + 16));
  bool has_norm = false, has_bias = false;
  for (const auto& t : expected_tensors(c)) {
    has_norm |= t.name.find("kv_a_layernorm") != std::string::npos;
    has_bias |= t.name == "model.layers.2.self_attn.kv_a_proj_with_mqa.bias";
    if (t.name == "model.layers.2.self_attn.kv_a_proj_with_mqa.weight")
      EXPECT_EQ(t.shape, (std::vector<int64_t>{80, 2048}));
  }
  EXPECT_FALSE(has_norm);
  EXPECT_TRUE(has_bias);
  j["kv_lora_rank"] = {96, 128};
  expect_error(j, "lists 2 values for 3 layers");
}

TEST(Config, RejectsBadInput) {
  json j = fixture("llama-3.1-8b");
  json bad = j;
  bad["rope_scaling"]["rope_type"] = "longrope";
  expect_error(bad, "rope scaling type 'longrope' is not supported");
  bad = j;
  bad["model_type"] = "gemma2";
  expect_error(bad, "model_type 'gemma2' is not supported");
  bad = j;
  bad.erase("hidden_size");
  expect_error(bad, "missing field 'hidden_size'");
  bad = j;
  bad["num_key_value_heads"] = 5;
  expect_error(bad, "not a multiple of num_key_value_heads");
  bad = j;
  bad["num_hidden_layers"] = -2;
  expect_error(bad, "'num_hidden_layers' must be positive");
  bad = j;
  bad["vocab_size"] = "many";
  expect_error(bad, "'vocab_size' must be an integer");
  bad = j;
  bad["tie_word_embeddings"] = "yes";
  expect_error(bad, "tie_word_embeddings");
  bad = j;
  bad["rope_scaling"].erase("original_max_position_embeddings");
  expect_error(bad, "original_max_position_embeddings");
  expect_error(json::array(), "not a JSON object");
}

TEST(Config, InHouseCheckpointMatchesItsConfig) {
  fs::path dir = test::source_dir() / "models" / "yz-qwen2-gqa-16m";
  ModelConfig c = load_config(dir);
  Checkpoint ckpt(dir);
  EXPECT_TRUE(check_checkpoint(c, ckpt).empty());
  EXPECT_EQ(ckpt.num_params(), num_params(c));
  c.intermediate_size = 1000;  // a wrong config is caught tensor by tensor
  EXPECT_FALSE(check_checkpoint(c, ckpt).empty());
}

}  // namespace
}  // namespace yz
