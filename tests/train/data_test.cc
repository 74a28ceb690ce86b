// Packing: rows filled from consecutive documents, positions restarting per document piece,
// targets only inside a piece and where the loss mask allows (the SFT hook), the block-causal
// mask against a loop written out by hand, attended pairs, a cursor that reproduces the stream,
// seeded order, too-little / malformed data.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <fstream>

#include "test_util.h"
#include "train/data.h"
#include "util/error.h"

namespace yz::train {
namespace {

// Documents i = 0..n-1 of lengths lens[i] holding ids 100·i + k; document 2 masks its first two
// tokens (an SFT prompt).
class FakeDocs : public DocumentSource {
 public:
  explicit FakeDocs(std::vector<int64_t> lens) : lens_(std::move(lens)) {}
  int64_t size() const override { return static_cast<int64_t>(lens_.size()); }
  TokenizedDoc get(int64_t i) const override {
    TokenizedDoc d;
    for (int64_t k = 0; k < lens_[i]; ++k) d.ids.push_back(static_cast<int32_t>(100 * i + k));
    if (i == 2) {
      d.loss_mask.assign(lens_[i], 1);
      for (int64_t k = 0; k < std::min<int64_t>(2, lens_[i]); ++k) d.loss_mask[k] = 0;
    }
    return d;
  }

 private:
  std::vector<int64_t> lens_;
};

TEST(Packer, RowsPositionsTargets) {
  FakeDocs docs({3, 5, 4, 2, 6});
  Packer p(docs, 8, 7);
  PackedRows r = p.next(4);  // 32 tokens from 20 per epoch: wraps into epoch 1
  ASSERT_EQ(r.ids.sizes(), (torch::IntArrayRef{4, 8}));
  auto ids = r.ids.accessor<int64_t, 2>(), pos = r.positions.accessor<int64_t, 2>();
  auto seg = r.segments.accessor<int64_t, 2>(), tgt = r.targets.accessor<int64_t, 2>();
  for (int64_t b = 0; b < 4; ++b)
    for (int64_t t = 0; t < 8; ++t) {
      if (t == 0 || seg[b][t] != seg[b][t - 1]) {
        EXPECT_EQ(pos[b][t], 0);  // every piece starts at position 0
      } else {
        EXPECT_EQ(pos[b][t], pos[b][t - 1] + 1);
        EXPECT_EQ(ids[b][t] / 100, ids[b][t - 1] / 100);  // a piece is one document
      }
      const bool next_same = t + 1 < 8 && seg[b][t + 1] == seg[b][t];
      const bool masked_next = next_same && ids[b][t + 1] / 100 == 2 && ids[b][t + 1] % 100 < 2;
      if (next_same && !masked_next) EXPECT_EQ(tgt[b][t], ids[b][t + 1]);
      else EXPECT_EQ(tgt[b][t], kIgnore);
    }
  EXPECT_EQ(p.cursor().epoch, 1);
}

TEST(Packer, CursorReproducesTheStream) {
  FakeDocs docs({3, 50, 4, 2, 6, 9, 1});
  Packer a(docs, 16, 3);
  a.next(3);
  const DataCursor at = a.cursor();
  PackedRows expect = a.next(5);
  Packer b(docs, 16, 3);
  b.seek(at);
  PackedRows got = b.next(5);
  EXPECT_TRUE(torch::equal(expect.ids, got.ids));
  EXPECT_TRUE(torch::equal(expect.positions, got.positions));
  EXPECT_TRUE(torch::equal(expect.targets, got.targets));
  // Same seed, same order; another seed, another order.
  Packer c(docs, 16, 3), d(docs, 16, 4);
  PackedRows c1 = c.next(5), d1 = d.next(5);
  Packer c2(docs, 16, 3);
  EXPECT_TRUE(torch::equal(c1.ids, c2.next(5).ids));
  EXPECT_FALSE(torch::equal(c1.ids, d1.ids));
  DataCursor bad;
  bad.doc = 7;
  EXPECT_THROW(b.seek(bad), Error);
}

TEST(Packer, EmptyDataIsAnError) {
  FakeDocs docs({0, 0, 0});
  Packer p(docs, 4, 0);
  EXPECT_THROW(p.next(1), Error);
}

TEST(DocumentMask, BlockCausalByHand) {
  torch::Tensor seg = torch::tensor({0, 0, 0, 1, 1, 2, 2, 2, 0, 0, 0, 0, 0, 0, 1, 1}, torch::kLong).view({2, 8});
  torch::Tensor m = document_mask(seg, torch::kCPU);
  ASSERT_EQ(m.sizes(), (torch::IntArrayRef{2, 1, 8, 8}));
  auto s = seg.accessor<int64_t, 2>();
  int64_t pairs = 0;
  for (int64_t b = 0; b < 2; ++b)
    for (int64_t i = 0; i < 8; ++i)
      for (int64_t j = 0; j < 8; ++j) {
        const bool allowed = j <= i && s[b][i] == s[b][j];
        pairs += allowed;
        EXPECT_EQ(m[b][0][i][j].item<bool>(), allowed) << b << i << j;
      }
  EXPECT_EQ(attended_pairs(seg), pairs);
  EXPECT_FALSE(document_mask(torch::zeros({2, 8}, torch::kLong), torch::kCPU).defined());
}

TEST(TextDocuments, ParagraphsFilesAndJsonl) {
  test::TempDir tmp;
  {
    std::ofstream(tmp / "a.txt") << "first para\nstill first\n\nsecond para\n";
    std::ofstream(tmp / "b.jsonl") << "{\"text\": \"one\"}\n{\"text\": \"two\"}\n";
    std::ofstream(tmp / "bad.jsonl") << "{\"text\": \"ok\"}\n{\"txt\": 3}\n";
  }
  // A byte-level stand-in tokenizer would need tokenizer.json; the bundled model's serves.
  const tok::Tokenizer tk = tok::Tokenizer::from_file(test::source_dir() / "models" / "yz-qwen2-gqa-16m");
  TextDocuments para({tmp / "a.txt", tmp / "b.jsonl"}, tk, DocSplit::kParagraphs);
  EXPECT_EQ(para.size(), 4);
  EXPECT_EQ(tk.decode(para.get(1).ids), "second para\n");
  TextDocuments whole({tmp / "a.txt", tmp / "b.jsonl"}, tk, DocSplit::kFiles);
  EXPECT_EQ(whole.size(), 3);  // JSONL stays one document per line
  try {
    TextDocuments bad({tmp / "bad.jsonl"}, tk, DocSplit::kParagraphs);
    FAIL() << "malformed JSONL accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("bad.jsonl: line 2"), std::string::npos) << e.what();
  }
  EXPECT_THROW(TextDocuments({tmp / "missing.txt"}, tk, DocSplit::kFiles), Error);
  EXPECT_THROW(parse_doc_split("sentences"), Error);
}

TEST(MixSeed, DeterministicAndSpread) {
  EXPECT_EQ(mix_seed(1, 2, 3, 4), mix_seed(1, 2, 3, 4));
  EXPECT_NE(mix_seed(1, 2, 3, 4), mix_seed(1, 2, 3, 5));
  double mean = 0;
  for (uint64_t i = 0; i < 4000; ++i) mean += uniform01(mix_seed(9, 1, i));
  EXPECT_NEAR(mean / 4000, 0.5, 0.02);
}

}  // namespace
}  // namespace yz::train
