// Tokenizer building blocks against exact identities: UTF-8 handling, the byte-level table,
// NFC, BPE merge order on a hand-made vocabulary, added-token matching, decoders, streaming
// decoding (concatenation equals full decode, never a partial character) and bad specs.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <random>

#include "test_util.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/unicode.h"
#include "util/error.h"
#include "util/fs.h"

namespace yz::tok {
namespace {

using nlohmann::json;

TEST(Unicode, ByteLevelTableIsABijection) {
  const auto& t = byte_to_unicode();
  std::set<uint32_t> seen(t.begin(), t.end());
  EXPECT_EQ(seen.size(), 256u);
  EXPECT_EQ(t[' '], 0x120u);  // 'Ġ'
  EXPECT_EQ(t['\n'], 0x10au);  // 'Ċ'
  EXPECT_EQ(t['A'], static_cast<uint32_t>('A'));
  for (int b = 0; b < 256; ++b) EXPECT_EQ(unicode_to_byte(t[b]), b);
  std::string all;
  for (int b = 0; b < 256; ++b) all.push_back(static_cast<char>(b));
  EXPECT_EQ(byte_level_to_bytes(bytes_to_byte_level(all)), all);
}

TEST(Unicode, LossyAndIncomplete) {
  EXPECT_EQ(utf8_lossy("ok \xc3\xa9"), "ok \xc3\xa9");
  EXPECT_EQ(utf8_lossy("a\xffz"), "a\xef\xbf\xbdz");
  // Rust from_utf8_lossy: a truncated 3-byte sequence is one replacement character.
  EXPECT_EQ(utf8_lossy("\xe4\xb8"), "\xef\xbf\xbd");
  EXPECT_EQ(utf8_lossy("\xed\xa0\x80"), "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");  // surrogate
  EXPECT_EQ(incomplete_utf8_suffix("ab\xe4\xb8"), 2u);
  EXPECT_EQ(incomplete_utf8_suffix("ab\xe4\xb8\xad"), 0u);
  EXPECT_EQ(incomplete_utf8_suffix("\xf0\x9f\x9a"), 3u);
  EXPECT_EQ(incomplete_utf8_suffix("abc"), 0u);
}

TEST(Unicode, Nfc) {
  EXPECT_EQ(normalize("cafe\xcc\x81", NormalForm::kNFC), "caf\xc3\xa9");
  EXPECT_EQ(normalize("caf\xc3\xa9", NormalForm::kNFD), "cafe\xcc\x81");
  EXPECT_EQ(normalize("\xef\xbc\xa1", NormalForm::kNFKC), "A");  // fullwidth A
  EXPECT_EQ(normalize("plain ascii", NormalForm::kNFC), "plain ascii");
}

// A tiny byte-level BPE where merge order matters: "ab" is merged before "bc".
json tiny_spec() {
  json vocab = json::object();
  int id = 0;
  for (const char* t : {"a", "b", "c", "d", "\xc4\xa0", "ab", "bc", "abc", "\xc4\xa0" "a"})
    vocab[t] = id++;
  return {{"normalizer", nullptr},
          {"pre_tokenizer",
           {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", true}}},
          {"post_processor", nullptr},
          {"decoder", {{"type", "ByteLevel"}}},
          {"added_tokens",
           {{{"id", 9}, {"content", "<x>"}, {"special", true}, {"normalized", false}},
            {{"id", 10}, {"content", "<ws>"}, {"special", false}, {"lstrip", true},
             {"rstrip", true}, {"normalized", false}}}},
          {"model",
           {{"type", "BPE"}, {"vocab", vocab},
            {"merges", {"a b", "b c", "ab c", "\xc4\xa0 a"}}}}};
}

TEST(Bpe, MergeOrderFollowsRank) {
  Tokenizer tk(tiny_spec());
  EXPECT_EQ(tk.encode("abc"), (std::vector<int32_t>{7}));        // (a b) then (ab c)
  EXPECT_EQ(tk.encode("bc"), (std::vector<int32_t>{6}));
  EXPECT_EQ(tk.encode("abcd"), (std::vector<int32_t>{7, 3}));
  EXPECT_EQ(tk.encode("cab"), (std::vector<int32_t>{2, 5}));
  // " ab": (a b) has rank 0 and wins over (Ġ a) with rank 3; "a b" keeps (Ġ a).
  EXPECT_EQ(tk.encode("a ab"), (std::vector<int32_t>{0, 4, 5}));
  EXPECT_EQ(tk.encode("a a"), (std::vector<int32_t>{0, 8}));
  EXPECT_EQ(tk.decode({0, 4, 5}), "a ab");
}

TEST(Bpe, AddedTokensSplitFirstAndStrip) {
  Tokenizer tk(tiny_spec());
  EXPECT_EQ(tk.encode("ab<x>c"), (std::vector<int32_t>{5, 9, 2}));
  EXPECT_EQ(tk.encode("a  <ws>  b"), (std::vector<int32_t>{0, 10, 1}));  // lstrip + rstrip
  EXPECT_EQ(tk.decode({5, 9, 2}), "ab<x>c");
  EXPECT_EQ(tk.decode({5, 9, 2}, /*skip_special_tokens=*/true), "abc");
  EXPECT_EQ(tk.token_to_id("<x>").value(), 9);
  EXPECT_EQ(tk.id_to_token(7), "abc");
  EXPECT_THROW(tk.id_to_token(99), Error);
}

TEST(Bpe, MissingByteIsAnError) {
  Tokenizer tk(tiny_spec());
  EXPECT_THROW(tk.encode("z"), Error);  // no byte 'z' and no unk token
}

TEST(TokenizerSpec, UnsupportedComponentsAreNamed) {
  auto expect_named = [](json spec, const std::string& needle) {
    try {
      Tokenizer tk(spec, "t.json");
      FAIL() << "accepted";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("t.json"), std::string::npos) << e.what();
    }
  };
  json s = tiny_spec();
  s["model"]["type"] = "Unigram";
  expect_named(s, "'Unigram'");
  s = tiny_spec();
  s["pre_tokenizer"] = {{"type", "Whitespace"}};
  expect_named(s, "'Whitespace'");
  s = tiny_spec();
  s["decoder"] = {{"type", "WordPiece"}};
  expect_named(s, "'WordPiece'");
  s = tiny_spec();
  s["model"]["merges"].push_back("zz q");
  expect_named(s, "not in the vocabulary");
  s = tiny_spec();
  s["model"].erase("vocab");
  expect_named(s, "malformed");
  EXPECT_THROW(Tokenizer::from_file("/nonexistent/tokenizer.json"), Error);
}

Tokenizer yz_tokenizer() {
  return Tokenizer::from_file(test::source_dir() / "models" / "yz-qwen2-gqa-16m");
}

TEST(Tokenizer, RoundTripsArbitraryText) {
  Tokenizer tk = yz_tokenizer();
  for (const std::string& s :
       {std::string("Revenue rose 12.5% to $1,234.56 \xe2\x82\xac 3m"), std::string(""),
        std::string("\t\ttabs\r\n\r\nCRLF   spaces  "),
        std::string("\xe4\xb8\xad\xe6\x96\x87 \xf0\x9f\x9a\x80 caf\xc3\xa9"),
        std::string("<|im_start|>user\nhi<|im_end|>")}) {
    EXPECT_EQ(tk.decode(tk.encode(s)), s) << s;
  }
}

// Streaming must reproduce decode() exactly and never emit half of a UTF-8 character.
void check_streaming(const Tokenizer& tk, const std::vector<int32_t>& ids, bool skip) {
  IncrementalDecoder dec(tk, skip);
  std::string streamed;
  for (int32_t id : ids) {
    std::string piece = dec.step(id);
    EXPECT_EQ(incomplete_utf8_suffix(piece), 0u);
    streamed += piece;
  }
  streamed += dec.flush();
  EXPECT_EQ(streamed, tk.decode(ids, skip));
}

TEST(IncrementalDecoder, MatchesFullDecodeOnText) {
  Tokenizer tk = yz_tokenizer();
  std::string text =
      "Emoji \xf0\x9f\x9a\x80\xf0\x9f\x93\x88 and CJK \xe4\xb8\xad\xe5\xa4\xae\xe9\x93\xb6"
      "\xe8\xa1\x8c and <|im_end|> accents caf\xc3\xa9 na\xc3\xafve.";
  check_streaming(tk, tk.encode(text), false);
  check_streaming(tk, tk.encode(text), true);
}

TEST(IncrementalDecoder, MatchesFullDecodeOnRandomIds) {
  Tokenizer tk = yz_tokenizer();
  std::mt19937 rng(42);
  std::uniform_int_distribution<int32_t> id(0, tk.vocab_size() - 1);
  for (int trial = 0; trial < 50; ++trial) {
    std::vector<int32_t> ids(1 + rng() % 40);
    for (auto& x : ids) x = id(rng);
    check_streaming(tk, ids, trial % 2 == 0);
  }
}

// A model may emit ids its tokenizer has no token for (embedding rows past the vocabulary):
// they add no text, and the text around them streams as if they were absent.
TEST(IncrementalDecoder, IdsWithoutATokenAddNoText) {
  Tokenizer tk = yz_tokenizer();
  const int32_t past = tk.vocab_size() + 7;
  EXPECT_FALSE(tk.has_id(past));
  EXPECT_FALSE(tk.has_id(-1));
  EXPECT_TRUE(tk.has_id(0));
  std::vector<int32_t> ids = tk.encode("Net income rose \xe2\x82\xac 12m", false);
  IncrementalDecoder dec(tk);
  std::string streamed;
  for (int32_t id : ids) streamed += dec.step(id) + dec.step(past);
  streamed += dec.flush();
  EXPECT_EQ(streamed, tk.decode(ids));
  EXPECT_THROW(tk.decode({past}), yz::Error);  // an explicit decode still names the bad id
}

}  // namespace
}  // namespace yz::tok
