// UTF-8 and Unicode helpers for tokenization: code point iteration, NFC (through utf8proc), the
// GPT-2 byte <-> printable-character table of byte-level BPE, and UTF-8 completeness checks.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace yz::tok {

// Length of the UTF-8 sequence starting with `lead` (1 for invalid lead bytes, so that
// iteration always advances).
int utf8_seq_len(uint8_t lead);
std::string encode_utf8(uint32_t cp);
// Decodes one code point at s[i]; returns 0xFFFD and length 1 on malformed input.
uint32_t decode_utf8(std::string_view s, size_t i, int* len);

// Unicode normal forms; ASCII input is returned as is without a library call.
enum class NormalForm { kNFC, kNFD, kNFKC, kNFKD };
std::string normalize(std::string_view s, NormalForm form);

// Replaces malformed sequences with U+FFFD, one per maximal invalid subpart (what Rust's
// String::from_utf8_lossy does, which is what Hugging Face decoding returns).
std::string utf8_lossy(std::string_view bytes);

// Number of trailing bytes of `s` that form an incomplete (but so far valid) UTF-8 sequence.
size_t incomplete_utf8_suffix(std::string_view s);

// GPT-2's bytes_to_unicode: each byte maps to a printable code point.
const std::array<uint32_t, 256>& byte_to_unicode();
// Inverse map; -1 for code points that are not in the table.
int unicode_to_byte(uint32_t cp);
// Raw bytes -> byte-level alphabet (UTF-8 encoded) and back (unknown characters pass through).
std::string bytes_to_byte_level(std::string_view bytes);
std::string byte_level_to_bytes(std::string_view text);

}  // namespace yz::tok
