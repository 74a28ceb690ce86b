"""The `tokenizers` library's side of bench_tokenizer: same text slice, same line split, one
thread (encode per line), best of 3; also encode_batch on all cores for reference."""
import json
import lzma
import os
import sys
import time

from tokenizers import Tokenizer


def main():
    tok_path, text_path = sys.argv[1], sys.argv[2]
    mb = float(sys.argv[3]) if len(sys.argv) > 3 else 10.0
    out = sys.argv[4] if len(sys.argv) > 4 else None
    raw = (lzma.open if text_path.endswith(".xz") else open)(text_path, "rb").read(int(mb * 1e6))
    raw = raw[: raw.rfind(b"\n") + 1]
    # Split exactly as bench_tokenizer.cc does: at b"\n", keeping it.
    lines = [(line + b"\n").decode("utf-8", errors="replace") for line in raw.split(b"\n")[:-1]]
    tok = Tokenizer.from_file(tok_path)
    best, tokens = 1e30, 0
    for _ in range(3):
        t0 = time.perf_counter()
        tokens = sum(len(tok.encode(line, add_special_tokens=False).ids) for line in lines)
        best = min(best, time.perf_counter() - t0)
    t0 = time.perf_counter()
    batch_tokens = sum(len(e.ids) for e in tok.encode_batch(lines, add_special_tokens=False))
    batch = time.perf_counter() - t0
    res = {"impl": "tokenizers", "mb_per_s": len(raw) / best / 1e6, "bytes": len(raw),
           "lines": len(lines), "tokens": tokens, "threads": 1,
           "batch_mb_per_s": len(raw) / batch / 1e6, "batch_threads": os.cpu_count(),
           "batch_tokens": batch_tokens}
    print(f"tokenizers {res['mb_per_s']:8.2f} MB/s  {len(raw)} bytes  {len(lines)} lines  {tokens} tokens"
          f"  (encode_batch on {os.cpu_count()} threads: {res['batch_mb_per_s']:.2f} MB/s)")
    if out:
        json.dump(res, open(out, "w"), indent=2)


if __name__ == "__main__":
    main()
