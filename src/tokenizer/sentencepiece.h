// Reads a SentencePiece ModelProto (.model, protobuf) and converts a BPE one into the
// equivalent Hugging Face tokenizer.json, as transformers' LlamaConverter does (Metaspace with
// prepend_scheme "first", byte fallback, merges ordered by the score of the merged piece).
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "util/fs.h"

namespace yz::tok {

struct SentencePiece {
  enum class Type { kNormal = 1, kUnknown = 2, kControl = 3, kUserDefined = 4, kUnused = 5,
                    kByte = 6 };
  std::string piece;
  float score = 0.0f;
  Type type = Type::kNormal;
};

struct SentencePieceModel {
  std::vector<SentencePiece> pieces;
  int model_type = 1;  // TrainerSpec.model_type: 1 unigram, 2 BPE, 3 word, 4 char
  bool byte_fallback = false;
  bool add_dummy_prefix = true;
  int32_t unk_id = 0, bos_id = 1, eos_id = 2, pad_id = -1;
};

SentencePieceModel read_sentencepiece_model(const fs::path& path);
SentencePieceModel parse_sentencepiece_model(const std::string& bytes, const std::string& source);

// tokenizer.json for a BPE SentencePiece model (Llama-2 / llama2.c style).
nlohmann::ordered_json sentencepiece_to_tokenizer_json(const SentencePieceModel& model);

}  // namespace yz::tok
