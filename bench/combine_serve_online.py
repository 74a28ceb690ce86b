#!/usr/bin/env python3
"""Table and JSON of bench/run_serve_online.sh: per model and load (Poisson rates, closed loop
at the logged maximum concurrency) completed / failed requests, output tokens/s, TTFT p99,
TPOT p99 and goodput under the run's SLOs; the goodput ratio of each model to the first (GQA)
at saturation; the rate-inf throughput against `bench throughput` (OUT_DIR/throughput_M.json
from the serve7b stage, when present with the same lengths); the soak (errors, RSS and GPU
memory after warm-up); each server's exit code after SIGTERM. Writes OUT_DIR/serve_online.json.
usage: combine_serve_online.py OUT_DIR SLO MODEL_DIR..."""
import csv
import glob
import json
import os
import re
import sys

out_dir, slo, dirs = sys.argv[1], sys.argv[2], sys.argv[3:]
models = [os.path.basename(d.rstrip("/")) for d in dirs]
res = {"slo_ms": slo, "models": {}}


def load(path):
    try:
        return json.load(open(path))
    except (OSError, ValueError):
        return None


def run_key(name):  # rate1 < rate4 < rate16 < rateinf < concN
    m = re.match(r"rate(.*)", name)
    if m:
        return (0, float(m.group(1)))
    return (1, float(name[4:]))


print(f"SLO (ms): {slo}")
print(f"{'model':10} {'load':>10} {'done':>5} {'fail':>4} {'req/s':>7} {'out tok/s':>10} {'TTFT p99':>9} "
      f"{'TPOT p99':>9} {'goodput':>8}")
for m in models:
    runs = {}
    for path in glob.glob(f"{out_dir}/serve_{m}_*.json"):
        name = path[len(f"{out_dir}/serve_{m}_"):-5]
        # serve_q7b_* also matches serve_q7b_mla_*: keep this model's own runs only.
        if re.fullmatch(r"rate(inf|[\d.]+)|conc\d+", name):
            runs[name] = load(path)
    row = {}
    for name in sorted((n for n in runs if runs[n]), key=run_key):
        r = runs[name]
        row[name] = {k: r.get(k) for k in ("completed", "failed", "duration", "request_throughput",
                                           "output_throughput", "p99_ttft_ms", "p99_tpot_ms", "mean_tpot_ms",
                                           "request_goodput", "max_concurrency", "max_concurrent_requests")}
        print(f"{m:10} {name:>10} {r['completed']:5d} {r['failed']:4d} {r['request_throughput']:7.2f} "
              f"{r['output_throughput']:10.1f} {r['p99_ttft_ms']:9.1f} {r['p99_tpot_ms']:9.2f} "
              f"{r['request_goodput'] or 0:8.2f}")
    entry = {"runs": row}
    log = open(f"{out_dir}/server_{m}.log").read() if os.path.exists(f"{out_dir}/server_{m}.log") else ""
    mc = re.search(r"Maximum concurrency for ([\d,]+) tokens per request: ([\d.]+)x", log)
    kv = re.search(r"KV cache size: ([\d,]+) tokens", log)
    if mc:
        entry["max_concurrency"] = float(mc.group(2))
        entry["max_model_len"] = int(mc.group(1).replace(",", ""))
    if kv:
        entry["kv_tokens"] = int(kv.group(1).replace(",", ""))
    code = f"{out_dir}/server_{m}_exit.txt"
    if os.path.exists(code):
        entry["sigterm_exit"] = int(open(code).read())
    tp = load(f"{out_dir}/throughput_{m}.json")
    inf = row.get("rateinf")
    if tp and inf:
        t = tp["results"][0]
        same = runs["rateinf"].get("input_len") == t["input_len"] and runs["rateinf"].get("output_len") == t["output_len"]
        if same:
            entry["rate_inf_vs_bench_throughput"] = inf["output_throughput"] / t["output_tokens_per_second"]
    soaks = sorted(glob.glob(f"{out_dir}/serve_{m}_soak*.json"))
    if soaks:
        rounds = [load(p) for p in soaks]
        rounds = [r for r in rounds if r]
        mem = list(csv.DictReader(open(f"{out_dir}/soak_{m}_memory.csv")))
        after = mem[len(mem) // 3:]  # warm-up: the first third of the samples
        rss = [int(x["rss_bytes"]) for x in after]
        gpu = [int(x["gpu_mib"]) for x in after]
        entry["soak"] = {
            "rounds": len(rounds), "seconds": sum(r["duration"] for r in rounds),
            "completed": sum(r["completed"] for r in rounds), "failed": sum(r["failed"] for r in rounds),
            "output_throughput": [round(r["output_throughput"], 1) for r in rounds],
            "rss_mib_after_warmup": [min(rss) / 2**20, max(rss) / 2**20] if rss else None,
            "gpu_mib_after_warmup": [min(gpu), max(gpu)] if gpu else None, "samples": len(mem)}
        s = entry["soak"]
        print(f"{m:10} soak: {s['rounds']} rounds, {s['seconds']:.0f} s, {s['completed']} completed, "
              f"{s['failed']} failed; RSS after warm-up {s['rss_mib_after_warmup']} MiB, "
              f"GPU {s['gpu_mib_after_warmup']} MiB; out tok/s per round {s['output_throughput']}")
    res["models"][m] = entry

base = res["models"].get(models[0], {}).get("runs", {}) if models else {}
for m in models[1:]:
    runs = res["models"][m]["runs"]
    sat = [n for n in runs if n.startswith("conc")]
    base_sat = [n for n in base if n.startswith("conc")]
    if sat and base_sat and base[base_sat[0]]["request_goodput"]:
        ratio = runs[sat[0]]["request_goodput"] / base[base_sat[0]]["request_goodput"]
        res["models"][m]["goodput_vs_first_at_saturation"] = ratio
        print(f"{m}: goodput at saturation {ratio:.2f}x {models[0]}'s")
for m in models:
    e = res["models"][m]
    if "rate_inf_vs_bench_throughput" in e:
        print(f"{m}: rate inf output tokens/s = {e['rate_inf_vs_bench_throughput']:.2f} x bench throughput")
    if "sigterm_exit" in e:
        print(f"{m}: exit {e['sigterm_exit']} after SIGTERM")
json.dump(res, open(f"{out_dir}/serve_online.json", "w"), indent=2)
