// SFT rows into ids and loss masks, checked token by token against references built another
// way: a chat conversation's ids and mask from its pieces encoded one by one (the special tokens
// of the bundled model's ChatML template split the text there), a completion from lm-eval's
// _encode_pair rule written out here; a plain text row after EOS; the formats and every malformed
// row as FILE:LINE.
#include <gtest/gtest.h>

#include <fstream>
#include <functional>

#include "template/chat_template.h"
#include "test_util.h"
#include "tokenizer/tokenizer.h"
#include "train/sft_data.h"
#include "util/error.h"

namespace yz::train {
namespace {

using test::data_dir;
using test::source_dir;
using test::TempDir;

const fs::path kModel = source_dir() / "models" / "yz-qwen2-gqa-16m";

const tok::Tokenizer& tokenizer() {
  static const tok::Tokenizer tk = tok::Tokenizer::from_file(kModel);
  return tk;
}

void write(const fs::path& p, const std::string& text) { std::ofstream(p) << text; }

using test::error_of;

TEST(SftData, ChatMaskCoversAssistantTurnsOnly) {
  const tmpl::ChatTemplate chat = *tmpl::ChatTemplate::from_model_dir(kModel);
  const tmpl::Json messages = tmpl::Json::parse(R"([
    {"role": "system", "content": "You are a financial analyst."},
    {"role": "user", "content": "Sentiment of: profits fell 20%?"},
    {"role": "assistant", "content": "negative"},
    {"role": "user", "content": "And: revenue rose to EUR 3.1 million."},
    {"role": "assistant", "content": "positive, because revenue grew"}])");
  const TokenizedDoc d = chat_sft_doc(messages, chat, tokenizer(), "row");
  // Reference: the ChatML rendering written out piece by piece, trained pieces marked.
  const std::vector<std::pair<std::string, bool>> pieces = {
      {"<|im_start|>system\nYou are a financial analyst.<|im_end|>\n", false},
      {"<|im_start|>user\nSentiment of: profits fell 20%?<|im_end|>\n", false},
      {"<|im_start|>assistant\n", false},
      {"negative<|im_end|>\n", true},
      {"<|im_start|>user\nAnd: revenue rose to EUR 3.1 million.<|im_end|>\n", false},
      {"<|im_start|>assistant\n", false},
      {"positive, because revenue grew<|im_end|>\n", true}};
  std::vector<int32_t> ids;
  std::vector<uint8_t> mask;
  for (const auto& [text, trained] : pieces) {
    const std::vector<int32_t> p = tokenizer().encode(text, false);
    ids.insert(ids.end(), p.begin(), p.end());
    mask.insert(mask.end(), p.size(), trained ? 1 : 0);
  }
  ASSERT_EQ(d.ids, ids);
  ASSERT_EQ(d.loss_mask.size(), mask.size());
  for (size_t t = 0; t < mask.size(); ++t)
    EXPECT_EQ(d.loss_mask[t], mask[t]) << "token " << t << " '" << tokenizer().decode({d.ids[t]}) << "'";
  std::vector<int32_t> trained;
  for (size_t t = 0; t < d.ids.size(); ++t)
    if (d.loss_mask[t]) trained.push_back(d.ids[t]);
  EXPECT_EQ(tokenizer().decode(trained),
            "negative<|im_end|>\npositive, because revenue grew<|im_end|>\n");
}

TEST(SftData, ChatErrorsNameTheRowAndKeepTheTemplateMessage) {
  const tmpl::ChatTemplate chatml = *tmpl::ChatTemplate::from_model_dir(kModel);
  EXPECT_NE(error_of([&] {
              chat_sft_doc(tmpl::Json::parse(R"([{"role": "user", "content": "hi"}])"), chatml,
                           tokenizer(), "f.jsonl:4");
            }).find("f.jsonl:4: no assistant message"),
            std::string::npos);
  EXPECT_NE(error_of([&] {
              chat_sft_doc(tmpl::Json::parse(R"([{"content": "hi"}])"), chatml, tokenizer(),
                           "f.jsonl:5");
            }).find("f.jsonl:5: message 0 needs a string \"role\""),
            std::string::npos);
  // Mistral v0.3's template refuses roles that do not alternate: its own words come through.
  const fs::path dir = data_dir() / "templates" / "mistral_v0.3";
  const tmpl::ChatTemplate mistral = tmpl::ChatTemplate::from_file(
      dir / "chat_template.jinja", tmpl::ChatTemplate::read_tokenizer_config(dir));
  const std::string e = error_of([&] {
    chat_sft_doc(tmpl::Json::parse(R"([{"role": "user", "content": "a"},
        {"role": "user", "content": "b"}, {"role": "assistant", "content": "c"}])"),
                 mistral, tokenizer(), "f.jsonl:6");
  });
  EXPECT_NE(e.find("f.jsonl:6: the chat template"), std::string::npos) << e;
  EXPECT_NE(e.find("alternate"), std::string::npos) << e;
}

TEST(SftData, CompletionFollowsEncodePair) {
  const std::string context =
      "Instruction: What is the sentiment of this news? Please choose an answer from "
      "{negative/neutral/positive}.\nInput: Operating profit rose to EUR 13.1 mn .\nAnswer: ";
  const TokenizedDoc d = completion_sft_doc(context, "positive", tokenizer(), 0, "row");
  // _encode_pair: "Answer:" | " positive", then EOS (id 0, <|endoftext|>).
  std::vector<int32_t> ctx = tokenizer().encode(context.substr(0, context.size() - 1), false);
  std::vector<int32_t> whole = tokenizer().encode(context + "positive", false);
  whole.push_back(0);
  ASSERT_EQ(d.ids, whole);
  for (size_t t = 0; t < whole.size(); ++t) EXPECT_EQ(d.loss_mask[t], t < ctx.size() ? 0 : 1) << t;
  std::vector<int32_t> trained(d.ids.begin() + static_cast<std::ptrdiff_t>(ctx.size()), d.ids.end());
  EXPECT_EQ(tokenizer().decode(trained), " positive<|endoftext|>");
  const TokenizedDoc text = completion_sft_doc("", "Net sales rose.", tokenizer(), 0, "row");
  std::vector<int32_t> want = tokenizer().encode("Net sales rose.", false);
  want.insert(want.begin(), 0);
  want.push_back(0);
  EXPECT_EQ(text.ids, want);
  EXPECT_EQ(text.loss_mask.front(), 0);
  for (size_t t = 1; t < text.loss_mask.size(); ++t) EXPECT_EQ(text.loss_mask[t], 1) << t;
  EXPECT_EQ(instruct_context("Define EBITDA.", ""), "Instruction: Define EBITDA.\nAnswer: ");
  EXPECT_EQ(instruct_context("Sentiment?", "x"), "Instruction: Sentiment?\nInput: x\nAnswer: ");
}

TEST(SftData, FilesFormatsAndMalformedRows) {
  TempDir dir;
  const tmpl::ChatTemplate chat = *tmpl::ChatTemplate::from_model_dir(kModel);
  write(dir / "chat.jsonl",
        R"({"messages": [{"role": "user", "content": "Define EBIT."}, {"role": "assistant", "content": "Earnings before interest and taxes."}]})"
        "\n\n"
        R"({"messages": [{"role": "user", "content": "Q"}, {"role": "assistant", "content": "A"}]})"
        "\n");
  write(dir / "inst.jsonl", R"({"instruction": "Define EBIT.", "output": "Earnings before interest and taxes."})"
                            "\n");
  write(dir / "comp.jsonl", R"({"context": "Term: EBIT. Answer:", "target": " Earnings."})" "\n");
  SftOptions o;
  o.chat = &chat;
  o.eos = 0;
  SftDocuments docs({dir / "chat.jsonl", dir / "inst.jsonl", dir / "comp.jsonl"}, tokenizer(), o);
  ASSERT_EQ(docs.size(), 4);
  EXPECT_EQ(docs.formats(), (std::vector<SftFormat>{SftFormat::kChat, SftFormat::kInstruct,
                                                    SftFormat::kCompletion}));
  const TokenizedDoc inst = docs.get(2);
  EXPECT_EQ(inst.ids, completion_sft_doc("Instruction: Define EBIT.\nAnswer: ",
                                         "Earnings before interest and taxes.", tokenizer(), 0, "row")
                          .ids);
  int64_t tokens = 0, trained = 0;
  for (int64_t i = 0; i < docs.size(); ++i) {
    tokens += static_cast<int64_t>(docs.get(i).ids.size());
    for (uint8_t m : docs.get(i).loss_mask) trained += m;
  }
  EXPECT_EQ(docs.tokens(), tokens);
  EXPECT_EQ(docs.trained_tokens(), trained);

  auto load_error = [&](const std::string& text, const SftOptions& opts) {
    write(dir / "bad.jsonl", text);
    return error_of([&] { SftDocuments({dir / "bad.jsonl"}, tokenizer(), opts); });
  };
  const std::string bad = (dir / "bad.jsonl").string();
  EXPECT_NE(load_error("{\"context\": \"a\", \"target\": \"b\"}\n{oops\n", o).find(bad + ":2: not valid JSON"),
            std::string::npos);
  EXPECT_NE(load_error("{\"context\": \"Q:\", \"target\": \" yes\"}\n{\"context\": \"a\"}\n", o)
                .find(bad + ":2: missing field 'target'"),
            std::string::npos);
  EXPECT_NE(load_error("{\"context\": \"a\", \"target\": \"\"}\n", o).find(bad + ":1: empty target"),
            std::string::npos);
  EXPECT_NE(load_error("{\"instruction\": \"a\", \"output\": 3}\n", o)
                .find(bad + ":1: field 'output' must be a string"),
            std::string::npos);
  EXPECT_NE(load_error("{\"text\": \"a\"}\n", o).find(bad + ":1: cannot tell the SFT format"),
            std::string::npos);
  SftOptions completion = o;
  completion.format = SftFormat::kCompletion;
  EXPECT_NE(load_error("{\"messages\": []}\n", completion).find(bad + ":1: missing field 'context'"),
            std::string::npos);
  SftOptions no_template;
  EXPECT_NE(load_error("{\"messages\": []}\n", no_template).find("chat rows need a chat template"),
            std::string::npos);
  EXPECT_NE(load_error("{\"messages\": [{\"role\": \"user\", \"content\": \"q\"}]}\n", o)
                .find(bad + ":1: no assistant message"),
            std::string::npos);
}

}  // namespace
}  // namespace yz::train
