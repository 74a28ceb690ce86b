"""Token-id goldens from the Hugging Face `tokenizers` library (run on the GPU machine, where it
is installed): tests/data/tokenizer_goldens.json, checked id for id by tests/tokenizer/parity_test.

Usage: python3 tools/make_tokenizer_goldens.py --qwen3 QWEN3.json --stories STORIES_TOKENIZER.json
           --spm tok512.model --out tests/data/tokenizer_goldens.json
`--stories` is the tokenizer.json that `youzhi import-llama2c` wrote for stories260K; the
SentencePiece library's own ids for tok512.model are recorded beside it.
"""
import argparse
import json
import os
import sys

import tokenizers
from tokenizers import Tokenizer

sys.path.insert(0, os.path.dirname(__file__))
from tokenizer_variants import gpt2_variant, llama3_variant  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def record(tok, texts):
    out = []
    for t in texts:
        ids = tok.encode(t).ids
        plain = tok.encode(t, add_special_tokens=False).ids
        out.append({"ids": ids, "ids_no_special": plain,
                    "decoded": tok.decode(plain, skip_special_tokens=False),
                    "decoded_skip_special": tok.decode(plain, skip_special_tokens=True)})
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--qwen3", required=True)
    ap.add_argument("--stories", required=True)
    ap.add_argument("--spm", required=True)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    texts = json.load(open(os.path.join(ROOT, "tests/data/tokenizer_texts.json"), encoding="utf-8"))["texts"]
    yz_spec = json.load(open(os.path.join(ROOT, "models/yz-qwen2-gqa-16m/tokenizer.json"), encoding="utf-8"))
    cases = {
        "yz_qwen2": Tokenizer.from_str(json.dumps(yz_spec)),
        "yz_llama3_regex": Tokenizer.from_str(json.dumps(llama3_variant(yz_spec))),
        "yz_gpt2_bytelevel": Tokenizer.from_str(json.dumps(gpt2_variant(yz_spec))),
        "qwen3": Tokenizer.from_file(a.qwen3),
        "stories260k": Tokenizer.from_file(a.stories),
    }
    goldens = {"tokenizers_version": tokenizers.__version__, "texts": texts,
               "cases": {name: record(tok, texts) for name, tok in cases.items()}}
    try:
        import sentencepiece as spm
        sp = spm.SentencePieceProcessor(model_file=a.spm)
        goldens["sentencepiece_version"] = spm.__version__
        goldens["stories260k_sentencepiece_ids"] = [[sp.bos_id()] + sp.encode(t) for t in texts]
    except ImportError:
        print("sentencepiece not installed: its ids are not recorded", file=sys.stderr)
    with open(a.out, "w", encoding="utf-8") as f:
        json.dump(goldens, f, ensure_ascii=False)
    agree = sum(g["ids"] == s for g, s in zip(goldens["cases"]["stories260k"],
                                               goldens.get("stories260k_sentencepiece_ids", [])))
    print(f"tokenizers {tokenizers.__version__}: {len(texts)} texts x {len(cases)} tokenizers; "
          f"stories260k vs sentencepiece: {agree}/{len(texts)} texts identical")


if __name__ == "__main__":
    main()
