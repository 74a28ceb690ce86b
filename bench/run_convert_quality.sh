#!/usr/bin/env bash
# Issue #4 quality bench: yz-qwen2-gqa-16m converted at 2x (r = 96) and 3x (r = 53) KV
# compression (d_r = 32) with f in {2, 4, 8, 16} and --freqfold auto; perplexity at every stage
# on the mla_conversion.md §13 protocol (128 x 256 calibration tokens from pretrain.txt chars
# 30-32M, 32 windows of 1024 tokens of the first 400k characters of wikitext-2 test and held-out
# SEC). Writes bench/results/convert_quality.json (one report per run).
# usage: bench/run_convert_quality.sh CALIB.txt WIKI400K.txt SEC400K.txt [SELECT.txt] [--device cuda]
set -euo pipefail
cd "$(dirname "$0")/.."
CALIB=$1 WIKI=$2 SEC=$3 SELECT=${4:-}
shift 3; [ $# -gt 0 ] && shift
DEV=${*:-}
OUT=bench/out/convert_quality; mkdir -p $OUT
for budget in 96:half 53:third; do
  for f in 2 4 8 16 auto; do
    name=${budget#*:}_f$f
    [ -f $OUT/$name.json ] && continue
    sel=(); [ "$f" = auto ] && [ -n "$SELECT" ] && sel=(--select "$SELECT")
    build/youzhi convert --model models/yz-qwen2-gqa-16m --out /tmp/yz_q_$name --overwrite \
      --rope-dim 32 --kv-lora-rank ${budget%%:*} --freqfold $f --calib "$CALIB" \
      "${sel[@]}" --eval-file "$WIKI" --eval-file "$SEC" --eval-ctx 1024 --eval-chunks 32 \
      --report $OUT/$name.json $DEV --json > /dev/null
    rm -rf /tmp/yz_q_$name
    echo "done $name"
  done
done
python3 - "$OUT" <<'PY'
import json, os, sys
out = {}
for f in sorted(os.listdir(sys.argv[1])):
    r = json.load(open(os.path.join(sys.argv[1], f)))
    out[f[:-5]] = {"ppl": r["ppl"], "kv_elements_per_token": r["kv_elements_per_token"],
                   "freqfold": r["plan"]["freqfold"][0], "search": r.get("freqfold_search"),
                   "convert_s": r["phases"]["convert"]["wall_s"]}
json.dump(out, open("bench/results/convert_quality.json", "w"), indent=1)
print(json.dumps({k: (v["freqfold"], {s: {e: round(p, 2) for e, p in d.items()} for s, d in v["ppl"].items()}) for k, v in out.items()}, indent=0))
PY
