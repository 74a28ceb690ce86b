// Import of llama2.c checkpoints (Karpathy's "legacy v0" float32 format, e.g. stories260K) into
// a Hugging Face Llama directory, with the tokenizer converted from its SentencePiece model.
#pragma once

#include <cstdint>
#include <string>

#include "util/fs.h"

namespace yz {

struct Llama2cHeader {
  int32_t dim = 0, hidden_dim = 0, n_layers = 0, n_heads = 0, n_kv_heads = 0;
  int32_t vocab_size = 0;  // negative in the file means an unshared classifier
  int32_t seq_len = 0;
  bool shared_classifier = true;
};

struct ImportSummary {
  Llama2cHeader header;
  int64_t num_params = 0;
  int64_t tokenizer_vocab = 0;
};

// Reads and validates the header; `file_size` lets it check the exact expected size.
Llama2cHeader parse_llama2c_header(const uint8_t* data, size_t file_size, const std::string& src);

// Writes OUT/{config.json, generation_config.json, model.safetensors, tokenizer.json,
// tokenizer_config.json} atomically. q/k rows are permuted from llama2.c's interleaved rotary
// pairs to transformers' rotate_half layout (as convert_llama_weights_to_hf.py's permute).
ImportSummary import_llama2c(const fs::path& model_bin, const fs::path& tokenizer_model,
                             const fs::path& out_dir, bool overwrite);

}  // namespace yz
