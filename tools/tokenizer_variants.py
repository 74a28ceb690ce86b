"""Tokenizer variants shared by the golden generator and the C++ parity test.

Besides the real tokenizers, two variants of the in-house byte-level tokenizer exercise the
other pre-tokenizers we must match: Llama-3's split regex (with ignore_merges, as Llama-3 ships)
and GPT-2's ByteLevel(use_regex=true). tests/tokenizer/parity_test.cc builds the same variants.
"""
import copy

LLAMA3_PATTERN = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|"
                  r" ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")


def llama3_variant(spec):
    s = copy.deepcopy(spec)
    s["pre_tokenizer"]["pretokenizers"][0]["pattern"]["Regex"] = LLAMA3_PATTERN
    s["model"]["ignore_merges"] = True
    return s


def gpt2_variant(spec):
    s = copy.deepcopy(spec)
    s["normalizer"] = None
    s["pre_tokenizer"] = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True,
                          "use_regex": True}
    return s
