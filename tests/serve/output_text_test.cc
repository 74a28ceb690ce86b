// Streamed output text: stop strings against a whole-text reference (earliest match, nothing of
// a stop string ever released early) over random texts cut into random pieces, and the
// incremental decoder + stop strings on the bundled tokenizer against decode() of all tokens.
#include <gtest/gtest.h>

#include <random>

#include "serve/output_text.h"
#include "serve/stop_strings.h"
#include "test_util.h"

namespace yz::serve {
namespace {

// What a client must finally see: the text up to the stop string that completes first in the
// whole text (the longest, i.e. earliest-starting, when several end at the same byte), found by
// brute force over every end position.
std::string reference(const std::string& text, const std::vector<std::string>& stops, bool include, bool* matched) {
  for (size_t end = 1; end <= text.size(); ++end) {
    size_t best = std::string::npos, len = 0;
    for (const std::string& s : stops)
      if (s.size() <= end && text.compare(end - s.size(), s.size(), s) == 0 && s.size() > len) {
        best = end - s.size();
        len = s.size();
      }
    if (best != std::string::npos) {
      *matched = true;
      return text.substr(0, best + (include ? len : 0));
    }
  }
  *matched = false;
  return text;
}

TEST(StopMatcher, HoldsBackUntilItCannotMatch) {
  StopMatcher m({"END", "\n\n"});
  EXPECT_EQ(m.feed("Hello E"), "Hello ");  // "E" may start END
  EXPECT_EQ(m.feed("N"), "");
  EXPECT_EQ(m.feed("x"), "ENx");           // it did not
  EXPECT_EQ(m.feed("\n"), "");
  EXPECT_EQ(m.feed("\nrest"), "");
  EXPECT_TRUE(m.matched());
  EXPECT_EQ(m.feed("more"), "");
  EXPECT_EQ(m.flush(), "");

  StopMatcher inc({"END"}, /*include_stop=*/true);
  EXPECT_EQ(inc.feed("aEN"), "a");
  EXPECT_EQ(inc.feed("Dz"), "END");
  StopMatcher none({});
  EXPECT_EQ(none.feed("abc"), "abc");
  StopMatcher tail({"xyz"});
  EXPECT_EQ(tail.feed("abcxy"), "abc");
  EXPECT_EQ(tail.flush(), "xy");  // generation ended without a match: the held text is released
}

TEST(StopMatcher, RandomPiecesMatchTheWholeTextReference) {
  std::mt19937 rng(std::random_device{}());
  const std::string alphabet = "ab \n\xc3\xa9";  // includes a 2-byte character (é)
  for (int trial = 0; trial < 3000; ++trial) {
    auto random_text = [&](int n) {
      std::string s;
      for (int i = 0; i < n; ++i) {
        const int c = static_cast<int>(rng() % 5);
        s += c == 4 ? std::string("\xc3\xa9") : std::string(1, alphabet[c]);
      }
      return s;
    };
    std::vector<std::string> stops;
    for (int k = 0, n = 1 + static_cast<int>(rng() % 3); k < n; ++k) stops.push_back(random_text(1 + rng() % 3));
    const std::string text = random_text(static_cast<int>(rng() % 40));
    const bool include = rng() % 2;
    bool matched = false;
    const std::string want = reference(text, stops, include, &matched);
    StopMatcher m(stops, include);
    std::string got;
    for (size_t i = 0; i < text.size();) {
      size_t n = 1 + rng() % 6;
      n = std::min(n, text.size() - i);
      while (i + n < text.size() && (static_cast<unsigned char>(text[i + n]) & 0xC0) == 0x80) ++n;  // whole chars
      got += m.feed(text.substr(i, n));
      // Nothing released can be un-released: it is always a prefix of the final text.
      ASSERT_EQ(want.compare(0, got.size(), got), 0) << "text '" << text << "'";
      i += n;
    }
    got += m.flush();
    ASSERT_EQ(got, want) << "text '" << text << "' stops " << stops.size();
    ASSERT_EQ(m.matched(), matched);
  }
}

TEST(OutputText, IncrementalTextEqualsDecodeOfAllTokens) {
  const tok::Tokenizer tk = tok::Tokenizer::from_file(test::source_dir() / "models" / "yz-qwen2-gqa-16m");
  std::mt19937 rng(std::random_device{}());
  // Text with multi-byte characters whose tokens split them, plus random ids.
  const std::vector<int32_t> text_ids = tk.encode("Rates rose 0.25% — 利率上升 😀 to 5.5%. The end.");
  for (int trial = 0; trial < 50; ++trial) {
    std::vector<int32_t> ids = text_ids;
    for (int k = 0; k < 20; ++k) ids.insert(ids.begin() + rng() % ids.size(), static_cast<int32_t>(rng() % tk.vocab_size()));
    OutputText out(tk, /*skip_special_tokens=*/true, {}, false);
    std::string streamed;
    for (int32_t id : ids) {
      const std::string piece = out.add(id, false);
      streamed += piece;
    }
    streamed += out.finish();
    EXPECT_EQ(streamed, tk.decode(ids, true));
    EXPECT_EQ(out.text(), streamed);
    EXPECT_FALSE(out.stopped());
  }
}

TEST(OutputText, StopStringsAndStopTokens) {
  const tok::Tokenizer tk = tok::Tokenizer::from_file(test::source_dir() / "models" / "yz-qwen2-gqa-16m");
  const std::string text = "The Federal Reserve raised interest rates by half a point.";
  const std::vector<int32_t> ids = tk.encode(text);
  for (const std::string stop : {"Reserve", "d int", " point.", "half a point. and more"}) {
    OutputText out(tk, true, {stop}, false);
    std::string streamed;
    for (int32_t id : ids) {
      streamed += out.add(id, false);
      if (out.stopped()) break;
    }
    if (!out.stopped()) streamed += out.finish();
    bool matched = false;
    EXPECT_EQ(streamed, reference(text, {stop}, false, &matched)) << stop;
    EXPECT_EQ(out.stopped(), matched) << stop;
  }
  // A stop token adds no text of its own (even a visible one), but releases what was held.
  OutputText out(tk, false, {"rates by"}, false);
  std::string s;
  for (int32_t id : tk.encode("interest rates")) s += out.add(id, false);
  s += out.add(tk.encode("<|endoftext|>", true).back(), /*is_stop_token=*/true);
  s += out.finish();
  EXPECT_EQ(s, "interest rates");
}

}  // namespace
}  // namespace yz::serve
