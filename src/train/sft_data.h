// Supervised fine-tuning data (`youzhi train sft`): JSONL rows turned into token ids and a loss
// mask that counts only what the model should learn to write.
//   chat:       {"messages": [{"role", "content"}, ...]} rendered with the model's chat template;
//               the loss covers the assistant turns only. Each assistant turn's tokens are found by
//               rendering prefixes, as TRL's SFTTrainer does for prompt/completion conversations
//               (tokenize(render(turns before it, add_generation_prompt)) must be a prefix of
//               tokenize(render(turns through it)), which must be a prefix of the whole), so the
//               span is exactly what the model generates after the generation prompt: the content
//               and the template's end-of-turn text (<|im_end|>\n for ChatML).
//   instruct:   {"instruction", "input"?, "output"} in FinLoRA's prompt
//               ("Instruction: ...\nInput: ...\nAnswer: "), the loss on the output and EOS.
//   completion: {"context", "target"} (FinLoRA's files), the loss on the target and EOS; the split
//               is the evaluation's (lm-evaluation-harness's _encode_pair: trailing whitespace of
//               the context moves into the target), so training sees the tokens the evaluation
//               scores.
// Every row is checked and tokenized when the data is loaded: a malformed one is an error naming
// FILE:LINE; a chat row the template refuses carries the template's own message.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "template/chat_template.h"
#include "train/data.h"

namespace yz::train {

enum class SftFormat { kChat, kInstruct, kCompletion };
SftFormat parse_sft_format(const std::string& name);  // chat | instruct | completion
const char* sft_format_name(SftFormat format);

struct SftOptions {
  std::optional<SftFormat> format;           // nullopt: each file's first row decides
  const tmpl::ChatTemplate* chat = nullptr;  // required by chat rows
  std::optional<int32_t> eos;                // appended to instruct / completion targets
};

class SftDocuments : public DocumentSource {
 public:
  SftDocuments(const std::vector<fs::path>& files, const tok::Tokenizer& tokenizer,
               const SftOptions& options);
  int64_t size() const override { return static_cast<int64_t>(docs_.size()); }
  TokenizedDoc get(int64_t index) const override { return docs_.at(index); }
  int64_t tokens() const { return tokens_; }                // all rows
  int64_t trained_tokens() const { return trained_; }       // loss-mask ones
  const std::vector<SftFormat>& formats() const { return formats_; }  // per file

 private:
  std::vector<TokenizedDoc> docs_;
  std::vector<SftFormat> formats_;
  int64_t tokens_ = 0, trained_ = 0;
};

// One chat conversation: ids of the whole rendering and the assistant-only mask. `where`
// prefixes errors (FILE:LINE).
TokenizedDoc chat_sft_doc(const tmpl::Json& messages, const tmpl::ChatTemplate& chat,
                          const tok::Tokenizer& tokenizer, const std::string& where);
// context + target as lm-eval's _encode_pair splits them (eval/prompt.h encode_pair); the mask
// covers the target and EOS. An empty context (a plain text row) starts with EOS.
TokenizedDoc completion_sft_doc(const std::string& context, const std::string& target,
                                const tok::Tokenizer& tokenizer, std::optional<int32_t> eos,
                                const std::string& where);
// FinLoRA's instruction prompt ("Instruction: I\nInput: X\nAnswer: "; no Input line without X).
std::string instruct_context(const std::string& instruction, const std::string& input);

}  // namespace yz::train
