#!/usr/bin/env bash
# CPU perplexity throughput before and after the fused attention kernel and the OpenBLAS core fix
# (issue #14), same binary, same run: `youzhi ppl` on the bundled model, 1024-token windows of
# held-out wikitext-2. "before" = OpenBLAS on its Prescott fallback (what Debian 12's 0.3.21 picks
# on recent Xeons) + eager attention, as the code did; then each fix alone, then both.
# Writes bench/results/cpu_ppl.json (or $1).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT_JSON=${1:-bench/results/cpu_ppl.json}
CHUNKS=${CHUNKS:-8}
Y=build/youzhi
M=models/yz-qwen2-gqa-16m
T=$(mktemp -d)
trap 'rm -rf $T' EXIT
head -c 400000 ../shared/data/eval_general/wikitext2_raw_test.txt > $T/wiki.txt
run() {  # name, env...
  local name=$1; shift
  local t0=$(date +%s.%N)
  env "$@" $Y ppl $M --text-file $T/wiki.txt --ctx 1024 --max-chunks $CHUNKS --json 2>/dev/null > $T/$name.json
  local t1=$(date +%s.%N)
  python3 - "$T/$name.json" "$name" "$t0" "$t1" <<'PY'
import json, sys
r = json.load(open(sys.argv[1])); dt = float(sys.argv[4]) - float(sys.argv[3])
r.update(name=sys.argv[2], wall_s=dt, tok_s=r["tokens"] / dt)
json.dump(r, open(sys.argv[1], "w"))
print(f"{sys.argv[2]:28} ppl {r['ppl']:.4f}  {r['tok_s']:8.0f} tok/s  ({dt:.1f} s)")
PY
}
run before OPENBLAS_CORETYPE=Prescott YZ_CPU_ATTENTION=eager
run blas_fix_only YZ_CPU_ATTENTION=eager
run fused_attention_only OPENBLAS_CORETYPE=Prescott
run after
python3 - "$T" "$OUT_JSON" "$CHUNKS" <<'PY'
import json, sys, datetime, platform, os
t, out, chunks = sys.argv[1], sys.argv[2], int(sys.argv[3])
rows = {n: json.load(open(f"{t}/{n}.json")) for n in ["before", "blas_fix_only", "fused_attention_only", "after"]}
base = rows["before"]["tok_s"]
for r in rows.values():
    r["speedup"] = r["tok_s"] / base
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "")
res = {"date": datetime.date.today().isoformat(), "cpu": cpu, "cores": os.cpu_count(),
       "model": "yz-qwen2-gqa-16m", "ctx": 1024, "chunks": chunks, "rows": rows}
json.dump(res, open(out, "w"), indent=2)
print(f"after / before: {rows['after']['speedup']:.2f}x (ppl {rows['before']['ppl']:.4f} -> {rows['after']['ppl']:.4f})")
PY
