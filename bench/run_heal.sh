#!/usr/bin/env bash
# Healing quality (issue 12, measured result 1): yz-qwen2-gqa-16m converted at a third of the KV
# cache (adaptive budget plan, the demo's calibration data), healed with cross-entropy (`train lm`)
# and with GKD (`train distill`, β ∈ {0, 0.5, 1} × λ ∈ {0, 0.5}) at equal token budgets on the
# corpus the model was pretrained on; held-out perplexity on wikitext-2 and SEC with the README's
# protocol (1024-token windows, 32 chunks of the first 400k characters), before and after.
# Budgets run smallest first; the next one starts only when its predicted time (the last budget's
# time scaled by the token ratio) still fits HEAL_LIMIT_S. Prints a table, writes JSON to $1.
#
# GPU (tools/gpu_run.sh heal):  bench/run_heal.sh OUT.json
# CPU, small (choosing lr):     YZ=build/youzhi DEVICE=cpu HEAL_SEQ=256 HEAL_BATCH=4096 \
#                               HEAL_BUDGETS="200000" HEAL_EVAL_CHUNKS=8 bench/run_heal.sh /tmp/heal.json
set -euo pipefail
cd "$(dirname "$0")/.."
OUT_JSON=${1:-bench/results/heal_third.json}
YZ=${YZ:-build-cuda/youzhi}
DEVICE=${DEVICE:-cuda}
D=${HEAL_DATA_DIR:-.gpu/data}
BUDGETS=${HEAL_BUDGETS:-1000000 3000000 9000000}
LIMIT=${HEAL_LIMIT_S:-450}
SEQ=${HEAL_SEQ:-1024}
BATCH=${HEAL_BATCH:-65536}
LR=${HEAL_LR:-1e-3}
CHUNKS=${HEAL_EVAL_CHUNKS:-32}
W=/tmp/yz_heal; mkdir -p $W
for f in wiki400k_lf sec400k; do [ -f $W/$f.txt ] || xz -dc $D/$f.txt.xz > $W/$f.txt; done
M=models/yz-qwen2-gqa-16m
S=$W/yz-mla-third
[ -f $S/config.json ] || $YZ convert --model $M --out $S --adaptive budget --kv-budget 0.333 \
  --calib data/demo/calibration_sotu_sec.txt.xz --calib-samples 32 --calib-len 256 \
  --select-samples 4 --select-len 256 --device $DEVICE --overwrite > $W/convert.log 2>&1
EVAL="--eval-file $W/wiki400k_lf.txt --eval-file $W/sec400k.txt --eval-ctx 1024 --eval-chunks $CHUNKS"
for f in wiki400k_lf sec400k; do
  $YZ ppl $M --text-file $W/$f.txt --ctx 1024 --max-chunks $CHUNKS --device $DEVICE --dtype float32 --json > $W/original_$f.json
done
COMMON="--data $D/pretrain.txt.xz --device $DEVICE --dtype float32 --seq-len $SEQ --batch-tokens $BATCH \
  --lr $LR --min-lr ${HEAL_MIN_LR:-1e-4} --train ${HEAL_TRAIN:-attn} --no-save --overwrite --json $EVAL"
METHODS="ce gkd_b0_l0 gkd_b0.5_l0 gkd_b1_l0 gkd_b0_l0.5 gkd_b0.5_l0.5 gkd_b1_l0.5"
start=$(date +%s); prev_t=0; prev_b=0
for b in $BUDGETS; do
  if [ $prev_b -gt 0 ]; then
    now=$(date +%s); predicted=$(( prev_t * b / prev_b ))
    if [ $(( now - start + predicted )) -gt $LIMIT ]; then
      echo "budget $b skipped: predicted ${predicted}s would pass HEAL_LIMIT_S=$LIMIT"; break
    fi
  fi
  t0=$(date +%s)
  steps=$(( (b + BATCH - 1) / BATCH )); warmup=$(( steps / 20 ))
  for m in $METHODS; do
    out=$W/run_${m}_$b
    if [ $m = ce ]; then
      $YZ train lm --model $S --out $out --tokens $b --warmup $warmup $COMMON > $out.json 2> $out.err
    else
      beta=${m#gkd_b}; beta=${beta%_l*}; lambda=${m##*_l}
      $YZ train distill --teacher $M --student $S --beta $beta --lambda $lambda --out $out \
        --tokens $b --warmup $warmup $COMMON > $out.json 2> $out.err
    fi || { echo "run $m $b failed:"; tail -3 $out.err; }
  done
  prev_t=$(( $(date +%s) - t0 )); prev_b=$b
  echo "budget $b: ${prev_t}s"
done
python3 - "$OUT_JSON" "$W" "$BUDGETS" "$METHODS" "$DEVICE" <<'PY'
import datetime, glob, json, os, subprocess, sys
out, w, budgets, methods, device = sys.argv[1], sys.argv[2], sys.argv[3].split(), sys.argv[4].split(), sys.argv[5]
files = ["wiki400k_lf.txt", "sec400k.txt"]
orig = {f: json.load(open(f"{w}/original_{f[:-4]}.json"))["ppl"] for f in files}
rows, before = [], None
for b in budgets:
    for m in methods:
        p = f"{w}/run_{m}_{b}.json"
        if not os.path.exists(p) or os.path.getsize(p) == 0:
            continue
        r = json.load(open(p))
        before = r["eval_before"]
        rec = {f: (before[f] - r["eval_after"][f]) / (before[f] - orig[f]) for f in files}
        rows.append({"budget_tokens": int(b), "method": m, "ppl": r["eval_after"], "recovered": rec,
                     "train_s": r["train_s"], "tokens_per_s": r["tokens_per_s"], "loss": r["loss"]})
gpu = subprocess.run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"], capture_output=True,
                     text=True).stdout.strip() if device.startswith("cuda") else "cpu"
json.dump({"benchmark": "healing yz-qwen2-gqa-16m at a third of the KV cache (adaptive budget)",
           "date": datetime.date.today().isoformat(), "device": gpu, "original": orig,
           "unhealed": before, "runs": rows, "settings": {k: v for k, v in os.environ.items() if k.startswith("HEAL_")}},
          open(out, "w"), indent=1)
print("| tokens | method | wikitext-2 ppl | gap recovered | SEC ppl | gap recovered | tok/s |")
print("|---|---|---|---|---|---|---|")
print(f"| — | original GQA | {orig[files[0]]:.2f} | | {orig[files[1]]:.2f} | | |")
if before:
    print(f"| 0 | converted, not healed | {before[files[0]]:.2f} | 0% | {before[files[1]]:.2f} | 0% | |")
for r in rows:
    print(f"| {r['budget_tokens']/1e6:g}M | {r['method']} | {r['ppl'][files[0]]:.2f} | {100*r['recovered'][files[0]]:.0f}% "
          f"| {r['ppl'][files[1]]:.2f} | {100*r['recovered'][files[1]]:.0f}% | {r['tokens_per_s']:.0f} |")
PY
