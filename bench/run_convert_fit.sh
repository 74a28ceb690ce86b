#!/usr/bin/env bash
# Issue 17 on the bundled model, mla_conversion.md §13 protocol (the texts of
# tools/gpu_bundle.sh: 128 x 256 calibration tokens from pretrain.txt chars 30-32M; selection
# 16 x 1024 from chars 40.0-40.5M + 500k of fin_domain.txt; 32 windows of 1024 tokens of the first
# 400k characters of wikitext-2 test and of the held-out SEC filings). Rows: uniform f = 2,
# d_r 32 at a third (r 53: BKV-PCA, and whitened + refit + 300 local steps) and at half (r 96,
# the same fits); the adaptive budget plan profiled with whitened + refit and converted with
# all three, at a third and half. R against `uniform_best` of bench/results/bench_convert_*.json
# (today's factorization, same protocol, 3 seeds). Writes bench/results/convert_fit.json.
# usage: bench/run_convert_fit.sh DATA_DIR [--device cuda]   (DATA_DIR: *.txt of the bundle)
set -euo pipefail
cd "$(dirname "$0")/.."
D=$1; shift
OUT=bench/out/convert_fit; mkdir -p $OUT
M=models/yz-qwen2-gqa-16m
EVAL=(--eval-file $D/wiki400k_lf.txt --eval-file $D/sec400k.txt --eval-ctx 1024 --eval-chunks 32)
CAL=(--calib $D/calib_2m.txt --calib-samples 128 --calib-len 256)
FIT=(--factorization whitened --refit --local-steps 300)
run() {  # name, convert flags...
  local name=$1; shift
  [ -f $OUT/$name.json ] && return
  SECONDS=0
  build/youzhi convert --model $M --out /tmp/yz_fit_$name --overwrite "${CAL[@]}" "${EVAL[@]}" \
    --report $OUT/$name.json --json "$@" > /dev/null
  rm -rf /tmp/yz_fit_$name
  echo "$name: ${SECONDS}s"
}
run third_uniform_bkv --rope-dim 32 --kv-lora-rank 53 --freqfold 2 "$@"
run third_uniform_fit --rope-dim 32 --kv-lora-rank 53 --freqfold 2 "${FIT[@]}" "$@"
run half_uniform_fit --rope-dim 32 --kv-lora-rank 96 --freqfold 2 "${FIT[@]}" "$@"
for b in 0.333:third 0.5:half; do
  run ${b#*:}_adaptive_fit --adaptive budget --kv-budget ${b%%:*} --select $D/select_1m.txt \
    --select-samples 16 --select-len 1024 "${FIT[@]}" --plan-local-steps 0 "$@"
done
python3 - "$OUT" <<'PY'
import json, os, sys
files = ["wiki400k_lf.txt", "sec400k.txt"]
base = {b: json.load(open(f"bench/results/bench_convert_{b}.json")) for b in ("third", "half")}
def uniform_best(b, f):
    return base[b]["summary"]["uniform_best"]["delta_ppl"][f]["mean"]
out = {}
for name in sorted(os.listdir(sys.argv[1])):
    r = json.load(open(os.path.join(sys.argv[1], name)))
    b = name.split("_")[0]
    row = {"kv_elements_per_token": r["kv_elements_per_token"], "plan": r["plan"], "fit": r["fit"],
           "ppl": r["ppl"]["final"], "original": r["ppl"]["original"],
           "convert_s": r["phases"]["convert"]["wall_s"], "plan_s": r.get("adaptive", {}).get("wall_s", 0.0),
           "breakdown": r["phases"]["convert"]["breakdown"],
           "layers": [{k: v for k, v in l.get("fit", {}).items()} for l in r["layers"]]}
    row["R"] = {f: (uniform_best(b, f) - (row["ppl"][f] - row["original"][f])) / uniform_best(b, f) for f in files}
    out[name[:-5]] = row
    print(f"{name[:-5]:22s} wiki {row['ppl'][files[0]]:7.2f}  sec {row['ppl'][files[1]]:6.2f}  "
          f"R {row['R'][files[0]]:.2f} / {row['R'][files[1]]:.2f}  plan {row['plan_s']:.0f} s, convert {row['convert_s']:.0f} s")
json.dump(out, open("bench/results/convert_fit.json", "w"), indent=1)
PY
