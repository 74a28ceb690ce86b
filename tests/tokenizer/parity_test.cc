// Id-for-id parity with the Hugging Face `tokenizers` library: goldens made on the GPU machine by
// tools/make_tokenizer_goldens.py (tests/data/tokenizer_goldens.json) on hard text, for the
// in-house tokenizer, two variants of it (Llama-3 and GPT-2 pre-tokenizers, built exactly as
// tools/tokenizer_variants.py does), the real Qwen3 tokenizer, and the stories260K tokenizer that
// import-llama2c converts from SentencePiece.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "convert/llama2c.h"
#include "test_util.h"
#include "tokenizer/tokenizer.h"
#include "util/text_file.h"

namespace yz::tok {
namespace {

using nlohmann::json;

// Same strings as tools/tokenizer_variants.py.
const char* kLlama3Pattern =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|)"
    R"( ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

const json& goldens() {
  static const json g =
      json::parse(read_text_file(test::data_dir() / "tokenizer_goldens.json"));
  return g;
}

json yz_spec() {
  return json::parse(
      read_text_file(test::source_dir() / "models" / "yz-qwen2-gqa-16m" / "tokenizer.json"));
}

Tokenizer make(const std::string& name, test::TempDir& tmp) {
  if (name == "yz_qwen2") return Tokenizer(yz_spec());
  if (name == "yz_llama3_regex") {
    json s = yz_spec();
    s["pre_tokenizer"]["pretokenizers"][0]["pattern"]["Regex"] = kLlama3Pattern;
    s["model"]["ignore_merges"] = true;
    return Tokenizer(s);
  }
  if (name == "yz_gpt2_bytelevel") {
    json s = yz_spec();
    s["normalizer"] = nullptr;
    s["pre_tokenizer"] = {{"type", "ByteLevel"}, {"add_prefix_space", false},
                          {"trim_offsets", true}, {"use_regex", true}};
    return Tokenizer(s);
  }
  if (name == "qwen3") {
    return Tokenizer(json::parse(read_text_input(test::shared_dir() / "data" / "tokenizers" /
                                                 "qwen3_tokenizer.json.xz")),
                     "qwen3_tokenizer.json");
  }
  if (name == "stories260k") {
    fs::path st = test::shared_dir() / "data" / "models" / "stories260K";
    import_llama2c(st / "stories260K.bin", st / "tok512.model", tmp / "stories", false);
    return Tokenizer::from_file(tmp / "stories");
  }
  ADD_FAILURE() << "unknown golden case " << name;
  return Tokenizer(yz_spec());
}

class Parity : public ::testing::TestWithParam<std::string> {};

TEST_P(Parity, IdsAndTextsMatchTokenizersLibrary) {
  const std::string name = GetParam();
  test::TempDir tmp;
  Tokenizer tk = make(name, tmp);
  const json& texts = goldens()["texts"];
  const json& cases = goldens()["cases"][name];
  ASSERT_EQ(texts.size(), cases.size());
  int exact = 0;
  for (size_t i = 0; i < texts.size(); ++i) {
    const std::string text = texts[i].get<std::string>();
    const json& g = cases[i];
    std::vector<int32_t> plain = g["ids_no_special"].get<std::vector<int32_t>>();
    EXPECT_EQ(tk.encode(text), g["ids"].get<std::vector<int32_t>>()) << name << " text " << i;
    EXPECT_EQ(tk.encode(text, false), plain) << name << " text " << i;
    EXPECT_EQ(tk.decode(plain), g["decoded"].get<std::string>()) << name << " text " << i;
    EXPECT_EQ(tk.decode(plain, true), g["decoded_skip_special"].get<std::string>())
        << name << " text " << i;
    exact += tk.encode(text) == g["ids"].get<std::vector<int32_t>>();
  }
  EXPECT_EQ(exact, static_cast<int>(texts.size()));
}

// The converted stories260K tokenizer against the SentencePiece library itself. They agree
// except where SentencePiece's normalizer differs from transformers' conversion by design:
// remove_extra_whitespaces (leading and repeated whitespace) and control tokens written as text.
TEST(Parity, Stories260kAgreesWithSentencePieceLibrary) {
  test::TempDir tmp;
  Tokenizer tk = make("stories260k", tmp);
  const json& texts = goldens()["texts"];
  const json& spm = goldens()["stories260k_sentencepiece_ids"];
  int compared = 0;
  for (size_t i = 0; i < texts.size(); ++i) {
    const std::string t = texts[i].get<std::string>();
    bool whitespace_run = false;
    for (size_t k = 0; k + 1 < t.size(); ++k)
      whitespace_run |= isspace(static_cast<unsigned char>(t[k])) &&
                        isspace(static_cast<unsigned char>(t[k + 1]));
    if (whitespace_run || (!t.empty() && isspace(static_cast<unsigned char>(t[0]))) ||
        t.find("<s>") != std::string::npos || t.find("<unk>") != std::string::npos)
      continue;
    EXPECT_EQ(tk.encode(t), spm[i].get<std::vector<int32_t>>()) << "text " << i;
    ++compared;
  }
  EXPECT_GE(compared, 30);
}

INSTANTIATE_TEST_SUITE_P(Goldens, Parity,
                         ::testing::Values("yz_qwen2", "yz_llama3_regex", "yz_gpt2_bytelevel",
                                           "qwen3", "stories260k"));

}  // namespace
}  // namespace yz::tok
