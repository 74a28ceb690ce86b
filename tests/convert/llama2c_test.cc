// import-llama2c on the real stories260K checkpoint: shapes, config, an exact round trip of
// every weight (including the rotary row permutation), the converted tokenizer on Karpathy's
// documented greedy output, and the refusal paths.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cstring>

#include "convert/llama2c.h"
#include "model/config.h"
#include "model/hf_names.h"
#include "test_util.h"
#include "tokenizer/tokenizer.h"
#include "util/error.h"
#include "util/safetensors.h"
#include "util/tensor.h"

namespace yz {
namespace {

using test::TempDir;

fs::path stories_dir() { return test::shared_dir() / "data" / "models" / "stories260K"; }

// Greedy decode from BOS documented in shared/data/SOURCES.md.
const std::vector<int32_t> kGreedyIds = {
    1,   403, 407, 261, 378, 432, 383, 286, 261, 376, 298, 315, 421, 395,
    317, 426, 338, 401, 396, 267, 337, 410, 408, 419, 292, 411, 322, 265,
    282, 295, 433, 426, 385, 328, 432, 358, 394, 261, 370, 432, 352};

class Stories : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir();
    import_llama2c(stories_dir() / "stories260K.bin", stories_dir() / "tok512.model",
                   dir_->path() / "hf", /*overwrite=*/false);
  }
  static void TearDownTestSuite() { delete dir_; }
  static fs::path out() { return dir_->path() / "hf"; }
  static TempDir* dir_;
};
TempDir* Stories::dir_ = nullptr;

TEST_F(Stories, ConfigAndShapes) {
  ModelConfig c = load_config(out());
  EXPECT_EQ(c.model_type, "llama");
  EXPECT_EQ(c.hidden_size, 64);
  EXPECT_EQ(c.intermediate_size, 172);
  EXPECT_EQ(c.num_hidden_layers, 5);
  EXPECT_EQ(c.num_attention_heads, 8);
  EXPECT_EQ(c.num_key_value_heads, 4);
  EXPECT_EQ(c.head_dim, 8);
  EXPECT_EQ(c.vocab_size, 512);
  EXPECT_TRUE(c.tie_word_embeddings);
  EXPECT_DOUBLE_EQ(c.rope.theta, 10000.0);
  EXPECT_EQ(c.kv_elements_per_token(), 5 * 2 * 4 * 8);
  Checkpoint ckpt(out());
  EXPECT_TRUE(check_checkpoint(c, ckpt).empty());
  EXPECT_EQ(ckpt.num_params(), num_params(c));
  for (const char* f : {"tokenizer.json", "tokenizer_config.json", "generation_config.json"})
    EXPECT_TRUE(fs::exists(out() / f)) << f;
}

TEST_F(Stories, WeightsRoundTripExactly) {
  auto file = MappedFile::open(stories_dir() / "stories260K.bin");
  const float* p = reinterpret_cast<const float*>(file->data() + 28);
  const int64_t d = 64, L = 5, D = 8, kv = 32, V = 512, hid = 172;
  auto raw = [&](int64_t offset, std::vector<int64_t> shape) {
    return at::from_blob(const_cast<float*>(p + offset), shape, at::kFloat).clone();
  };
  Checkpoint ckpt(out());
  auto get = [&](const std::string& n) { return to_tensor(ckpt.view(n)); };
  int64_t off = 0;
  EXPECT_TRUE(at::equal(get("model.embed_tokens.weight"), raw(off, {V, d})));
  off += V * d;
  const int64_t rms_att = off, wq = rms_att + L * d, wk = wq + L * d * d, wv = wk + L * kv * d;
  const int64_t wo = wv + L * kv * d, rms_ffn = wo + L * d * d, w1 = rms_ffn + L * d;
  const int64_t w2 = w1 + L * hid * d, w3 = w2 + L * d * hid, rms_final = w3 + L * hid * d;
  for (int64_t l = 0; l < L; ++l) {
    const std::string pre = layer_prefix(l);
    EXPECT_TRUE(at::equal(get(pre + "input_layernorm.weight"), raw(rms_att + l * d, {d})));
    EXPECT_TRUE(at::equal(get(pre + "self_attn.v_proj.weight"), raw(wv + l * kv * d, {kv, d})));
    EXPECT_TRUE(at::equal(get(pre + "self_attn.o_proj.weight"), raw(wo + l * d * d, {d, d})));
    EXPECT_TRUE(at::equal(get(pre + "post_attention_layernorm.weight"), raw(rms_ffn + l * d, {d})));
    EXPECT_TRUE(at::equal(get(pre + "mlp.gate_proj.weight"), raw(w1 + l * hid * d, {hid, d})));
    EXPECT_TRUE(at::equal(get(pre + "mlp.down_proj.weight"), raw(w2 + l * d * hid, {d, hid})));
    EXPECT_TRUE(at::equal(get(pre + "mlp.up_proj.weight"), raw(w3 + l * hid * d, {hid, d})));
    // Rotary rows: llama2.c pairs (2i, 2i+1) of a head become transformers' (i, i + D/2).
    at::Tensor q = get(pre + "self_attn.q_proj.weight"), q_raw = raw(wq + l * d * d, {d, d});
    at::Tensor k = get(pre + "self_attn.k_proj.weight"), k_raw = raw(wk + l * kv * d, {kv, d});
    for (int64_t h = 0; h < 8; ++h) {
      for (int64_t i = 0; i < D / 2; ++i) {
        EXPECT_TRUE(at::equal(q[h * D + i], q_raw[h * D + 2 * i]));
        EXPECT_TRUE(at::equal(q[h * D + D / 2 + i], q_raw[h * D + 2 * i + 1]));
        if (h < 4) {
          EXPECT_TRUE(at::equal(k[h * D + i], k_raw[h * D + 2 * i]));
          EXPECT_TRUE(at::equal(k[h * D + D / 2 + i], k_raw[h * D + 2 * i + 1]));
        }
      }
    }
  }
  EXPECT_TRUE(at::equal(get("model.norm.weight"), raw(rms_final, {d})));
}

TEST_F(Stories, TokenizerReproducesDocumentedText) {
  tok::Tokenizer tk = tok::Tokenizer::from_file(out());
  EXPECT_EQ(tk.vocab_size(), 512);
  // Like transformers, plain decoding keeps the special token: "<s> Once upon a time...".
  EXPECT_EQ(tk.decode(kGreedyIds).rfind("<s> Once upon", 0), 0u);
  std::string text = tk.decode(kGreedyIds, /*skip_special_tokens=*/true);
  EXPECT_EQ(text.rfind("Once upon a time, there was a little girl named Lily. She loved to play "
                       "outside in the park.", 0), 0u) << text;
  EXPECT_EQ(tk.encode(text), kGreedyIds);  // BOS added by the template
}

TEST_F(Stories, RefusesExistingOutputAndKeepsItIntact) {
  const std::string before = read_text_file(out() / "config.json");
  EXPECT_THROW(import_llama2c(stories_dir() / "stories260K.bin", stories_dir() / "tok512.model",
                              out(), false),
               Error);
  EXPECT_EQ(read_text_file(out() / "config.json"), before);
  EXPECT_NO_THROW(import_llama2c(stories_dir() / "stories260K.bin",
                                 stories_dir() / "tok512.model", out(), /*overwrite=*/true));
}

TEST(Llama2c, BadInputsFailBeforeWriting) {
  TempDir dir;
  std::string bin = read_text_file(stories_dir() / "stories260K.bin");
  write_file_atomic(dir / "truncated.bin", bin.substr(0, bin.size() - 4));
  write_file_atomic(dir / "tiny.bin", bin.substr(0, 10));
  std::string zero_heads = bin;
  std::memset(&zero_heads[12], 0, 4);
  write_file_atomic(dir / "zero_heads.bin", zero_heads);
  const fs::path tok = stories_dir() / "tok512.model";
  struct Case {
    fs::path bin, tok;
    const char* needle;
  } cases[] = {
      {dir / "truncated.bin", tok, "does not match its header"},
      {dir / "tiny.bin", tok, "truncated"},
      {dir / "zero_heads.bin", tok, "not a llama2.c checkpoint"},
      {dir / "missing.bin", tok, "cannot open"},
      {stories_dir() / "stories260K.bin", stories_dir() / "stories260K.bin", "SentencePiece"},
  };
  for (const auto& c : cases) {
    try {
      import_llama2c(c.bin, c.tok, dir / "out", false);
      ADD_FAILURE() << "accepted " << c.bin;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(c.needle), std::string::npos) << e.what();
    }
    EXPECT_FALSE(fs::exists(dir / "out"));
  }
  // Writing into the input's own directory is refused.
  EXPECT_THROW(import_llama2c(stories_dir() / "stories260K.bin", tok, stories_dir(), true), Error);
}

}  // namespace
}  // namespace yz
