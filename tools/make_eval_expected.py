#!/usr/bin/env python3
"""Writes tests/data/eval/ expectations from Python itself (no third-party packages; runs here):
  py_random.json        random.Random(seed).getrandbits(32) and .sample(range(n), k) draws
  prompt_*.txt          few-shot prompts, byte for byte, for fixed seeds (tools/eval_prompts.py)
tests/eval/prompt_test.cc checks PyRandom and `youzhi eval`'s prompts against them.
usage: tools/make_eval_expected.py [DATA_DIR]
"""
import json
import os
import random
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import eval_prompts as ep  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "tests", "data", "eval")


def main():
    data = sys.argv[1] if len(sys.argv) > 1 else ep.default_data_dir()
    os.makedirs(OUT, exist_ok=True)
    draws = []
    # Both sample() strategies: a pool when n <= setsize (21, or 21 + 4^ceil(log4(3k)) for
    # k > 5), rejection with a set otherwise; seeds of one, two and three 32-bit words.
    for seed, n, k, repeats in [(1234, 3629, 5, 4), (1234, 5856, 25, 2), (0, 10, 10, 3),
                                (7, 21, 4, 3), (42, 85, 6, 2), (42, 86, 6, 2),
                                (2**40 + 5, 1000, 1, 5), (2**63 + 3, 50, 50, 1)]:
        rnd = random.Random(seed)
        draws.append({"seed": str(seed), "n": n, "k": k,
                      "samples": [rnd.sample(range(n), k) for _ in range(repeats)]})
    bits = {str(s): [random.Random(s).getrandbits(32)] for s in (0, 1, 1234, 2**32, 2**40 + 5)}
    for s in list(bits):
        rnd = random.Random(int(s))
        bits[s] = [rnd.getrandbits(32) for _ in range(700)][::50]  # crosses one state refill
    json.dump({"source": "CPython " + sys.version.split()[0] + " random.Random",
               "getrandbits32_every_50th": bits, "sample": draws},
              open(os.path.join(OUT, "py_random.json"), "w"), indent=1)
    prompts = {
        "prompt_fpb_k3_seed1234_doc2.txt": ep.fpb_prompts(data, 3, 1234, 3)[2]["context"],
        "prompt_fpb_k5_seed7_doc0.txt": ep.fpb_prompts(data, 5, 7, 1)[0]["context"],
        "prompt_xbrl_term_k2_seed1234_doc1.txt": ep.xbrl_prompts(data, 2, 1234, 2)[1],
        "prompt_fineval_k5_doc0.txt": ep.fineval_prompt(data, 5),
    }
    for name, text in prompts.items():
        with open(os.path.join(OUT, name), "w", encoding="utf-8", newline="") as f:
            f.write(text)
    print(f"wrote {OUT}: py_random.json and {len(prompts)} prompts")


if __name__ == "__main__":
    main()
