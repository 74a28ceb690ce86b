#!/usr/bin/env python3
"""Prints the serving table of tools/gpu_run.sh serve7b (Qwen2.5-7B shapes on one GPU) and writes
bench/results-style JSON: bench throughput of GQA, uniform MLA and a third-of-the-cache adaptive
plan at equal GPU memory (KV tokens, computed and held concurrency, output tokens/s, ratios to
GQA) and batch-1 decode against transformers and the weight-read roofline.
usage: combine_serve_bench.py OUT_DIR B1_GQA.json B1_MLA.json B1_HF.json"""
import json
import sys

out, b1_gqa, b1_mla, b1_hf = sys.argv[1:5]
rows = {}
for m in ["q7b", "q7b_mla", "q7b_third"]:
    try:
        rows[m] = json.load(open(f"{out}/throughput_{m}.json"))["results"][0]
    except (OSError, KeyError, IndexError, ValueError):
        pass
res = {"throughput": rows}
if "q7b" in rows:
    g = rows["q7b"]
    print(f"{'model':10} {'KV B/tok':>9} {'KV tokens':>10} {'max conc':>9} {'held':>6} {'out tok/s':>10} {'conc x':>7} {'held x':>7} {'tok/s x':>8}")
    for m, r in rows.items():
        print(f"{m:10} {r['kv_bytes_per_token']:9d} {r['kv_tokens']:10d} {r['max_concurrency']:9.2f} {r['peak_running']:6d} "
              f"{r['output_tokens_per_second']:10.1f} {r['max_concurrency'] / g['max_concurrency']:7.2f} "
              f"{r['peak_running'] / g['peak_running']:7.2f} {r['output_tokens_per_second'] / g['output_tokens_per_second']:8.2f}")
b1 = {}
for name, path in [("gqa", b1_gqa), ("mla", b1_mla)]:
    try:
        r = json.load(open(path))["results"][0]
        b1[name] = {"output_tokens_per_second": r["output_tokens_per_second"], "weight_bytes": r["weight_bytes"]}
    except (OSError, KeyError, IndexError, ValueError):
        pass
try:
    b1["transformers_gqa"] = {"output_tokens_per_second": json.load(open(b1_hf))["decode_tok_s"]}
except (OSError, KeyError, ValueError):
    pass
res["batch1"] = b1
for k, v in b1.items():
    print(f"batch 1 decode {k:18} {v['output_tokens_per_second']:8.1f} tok/s")
json.dump(res, open(f"{out}/serve7b.json", "w"), indent=2)
