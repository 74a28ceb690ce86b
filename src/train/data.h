// Training data: documents (text / .xz / JSONL `text`), tokenized lazily, visited in an order
// fixed by the seed and the epoch, and packed into rows of seq_len tokens. A document never
// attends to another one in its row and its positions restart at 0 (transformers' packing with
// position_ids per sequence; TRL's packing and TransMLA's pretraining data do the same), and the
// loss counts a next-token target only inside one document. The cursor (epoch, document, offset)
// is all the state: a checkpoint stores it and a resumed run packs exactly the same rows.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "tokenizer/tokenizer.h"
#include "util/fs.h"

namespace yz::train {

// The target value the loss skips (transformers' / TRL's ignore_index).
constexpr int64_t kIgnore = -100;

struct TokenizedDoc {
  std::vector<int32_t> ids;
  // [ids.size()] 1 = the loss counts this token as a target; empty = every token. SFT formats
  // (chat / instruction JSONL) set 1 on assistant tokens only.
  std::vector<uint8_t> loss_mask;
};

// Where documents come from. Plain text documents (train lm / distill) are TextDocuments; SFT
// formats render their rows (chat template, instruction/output, context/target) into ids and an
// assistant-only loss mask behind the same interface.
class DocumentSource {
 public:
  virtual ~DocumentSource() = default;
  virtual int64_t size() const = 0;
  virtual TokenizedDoc get(int64_t index) const = 0;
};

// What one document is in a plain text file (JSONL files are always one document per line).
enum class DocSplit { kParagraphs, kFiles };
DocSplit parse_doc_split(const std::string& name);  // "paragraphs" | "files"

class TextDocuments : public DocumentSource {
 public:
  // kParagraphs: blank-line separated paragraphs (util/text_file.h read_documents, the
  // convention of calibration); kFiles: each file whole. Errors name the file.
  TextDocuments(const std::vector<fs::path>& files, const tok::Tokenizer& tokenizer, DocSplit split);
  int64_t size() const override { return static_cast<int64_t>(docs_.size()); }
  TokenizedDoc get(int64_t index) const override;

 private:
  const tok::Tokenizer& tokenizer_;
  std::vector<std::string> docs_;
};

// Position in the document stream: epoch, index into that epoch's order, tokens of that document
// already packed.
struct DataCursor {
  int64_t epoch = 0;
  int64_t doc = 0;
  int64_t offset = 0;
};

// Rows for one forward: every tensor [B, T] (CPU).
struct PackedRows {
  torch::Tensor ids;        // [B, T] int64
  torch::Tensor positions;  // [B, T] int64: restart at 0 with every document piece
  torch::Tensor segments;   // [B, T] int64: index of the document piece within its row
  torch::Tensor targets;    // [B, T] int64: next token when the loss counts it, else kIgnore
  int64_t rows() const { return ids.size(0); }
  PackedRows slice(int64_t begin, int64_t count) const;  // rows [begin, begin + count)
};

// Next-token targets of a row: position t predicts ids[t + 1] when both are in the same document
// piece and loss_mask[t + 1] is set (`mask` [T] uint8, or undefined = every token).
torch::Tensor next_token_targets(const torch::Tensor& ids, const torch::Tensor& segments,
                                 const torch::Tensor& mask);

// Boolean attention mask [B, 1, T, T] on `device`, true where query i may read key j: causal
// and inside one document piece (ForwardOptions::document_mask). Undefined when every row is a
// single piece: the model's causal kernels then apply.
torch::Tensor document_mask(const torch::Tensor& segments, const torch::Device& device);

// Keys each query attends to, summed over the batch (causal, within its piece): the attention
// term of the FLOP count.
int64_t attended_pairs(const torch::Tensor& segments);

class Packer {
 public:
  // Deterministic: the document order of epoch e is a Fisher-Yates shuffle driven by
  // splitmix64(seed, e), independent of the standard library.
  Packer(const DocumentSource& docs, int64_t seq_len, uint64_t seed);
  // The next `rows` rows, filled with consecutive documents of the order; a document longer than
  // what is left of a row continues at the start of the next one (positions restart there).
  PackedRows next(int64_t rows);
  const DataCursor& cursor() const { return cursor_; }
  void seek(const DataCursor& cursor);

 private:
  void load_current();
  const DocumentSource& docs_;
  int64_t seq_len_;
  uint64_t seed_;
  DataCursor cursor_;
  std::vector<int64_t> order_;  // [docs] this epoch's order
  int64_t order_epoch_ = -1;
  TokenizedDoc current_;        // the document at the cursor
  int64_t current_index_ = -1;  // its index in the order, or -1
};

// splitmix64 (Steele et al.): the trainer's stateless randomness. Every draw is a function of
// (seed, what, step, row), so a resumed or re-sharded run draws the same numbers.
uint64_t mix_seed(uint64_t seed, uint64_t a, uint64_t b = 0, uint64_t c = 0);
double uniform01(uint64_t bits);  // [0, 1) from 53 bits

}  // namespace yz::train
