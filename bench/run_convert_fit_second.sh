#!/usr/bin/env bash
# Issue 17 on a second in-house model, so the conversion gains are not tuned to the bundled one:
# a Qwen2-architecture model of another shape (tests/data/configs/yz-qwen2-small-hd48.json: 4
# layers, hidden 192, head_dim 48, 4 query heads per KV head, 3.1M parameters) initialised by
# tools/make_init_checkpoint.py and trained from scratch with `youzhi train lm` on the bundled
# model's corpus (TOKENS, default 3M; the CPU affords no more). Then the §13 protocol of
# bench/run_convert_fit.sh at a third (32 of 96 KV elements per layer) and half (48): every
# uniform plan with today's BKV-PCA (with one KV head, d_r divides 48 and f is a multiple of
# 48 / d_r), the new factorization (whitened + refit + 300 local steps) under the best of them,
# and the adaptive budget plan with the same fits. R against the best uniform BKV row of the same
# run (one seed). Writes bench/results/convert_fit_second.json.
# usage: bench/run_convert_fit_second.sh DATA_DIR [MODEL_DIR]   (DATA_DIR: *.txt of the bundle)
set -euo pipefail
cd "$(dirname "$0")/.."
D=$1; M=${2:-bench/out/yz-qwen2-small-hd48}
OUT=bench/out/convert_fit_second; mkdir -p $OUT
Y=${YZ:-build/youzhi}
if [ ! -f $M/config.json ]; then  # `train lm --out` is itself the trained model directory
  python3 tools/make_init_checkpoint.py tests/data/configs/yz-qwen2-small-hd48.json $M.init models/yz-qwen2-gqa-16m
  $Y train lm --model $M.init --data ../shared/data/corpus/pretrain.txt.xz --out $M --overwrite \
    --tokens ${TOKENS:-3000000} --seq-len 256 --batch-tokens 8192 --lr 3e-3 --min-lr 3e-4 --warmup 20 \
    --train all --no-activation-checkpointing --save-every 100 --keep 1 --seed 7
fi
EVAL=(--eval-file $D/wiki400k_lf.txt --eval-file $D/sec400k.txt --eval-ctx 1024 --eval-chunks ${EVAL_CHUNKS:-32})
CAL=(--calib $D/calib_2m.txt --calib-samples ${CALIB_SAMPLES:-128} --calib-len 256)
FIT=(--factorization whitened --refit --local-steps ${LOCAL_STEPS:-300})
run() {  # name, convert flags...
  local name=$1; shift
  [ -f $OUT/$name.json ] && return
  SECONDS=0
  $Y convert --model $M --out /tmp/yz_fit2_$name --overwrite "${CAL[@]}" "${EVAL[@]}" \
    --report $OUT/$name.json --json "$@" > /dev/null
  rm -rf /tmp/yz_fit2_$name
  echo "$name: ${SECONDS}s"
}
# (budget name, KV elements per layer, uniform plans "d_r:r:f")
for spec in "third 32 8:24:6 12:20:4 16:16:3 24:8:2" "half 48 12:36:4 16:32:3 24:24:2"; do
  set -- $spec; b=$1; shift 2
  for p in "$@"; do IFS=: read -r dr r f <<< "$p"; run ${b}_uniform_bkv_dr$dr --rope-dim $dr --kv-lora-rank $r --freqfold $f; done
  best=$(python3 - "$OUT" "$b" <<'PY'
import glob, json, sys
rows = []
for f in glob.glob(f"{sys.argv[1]}/{sys.argv[2]}_uniform_bkv_dr*.json"):
    r = json.load(open(f)); p = r["ppl"]
    rows.append((sum(p["final"][k] - p["original"][k] for k in p["final"]) / len(p["final"]), f))
print(min(rows)[1].split("_dr")[1][:-5])
PY
)
  for p in "$@"; do IFS=: read -r dr r f <<< "$p"; [ $dr == $best ] && run ${b}_uniform_fit --rope-dim $dr --kv-lora-rank $r --freqfold $f "${FIT[@]}"; done
  run ${b}_adaptive_fit --adaptive budget --kv-budget $([ $b == third ] && echo 0.3334 || echo 0.5) \
    --select $D/select_1m.txt --select-samples 16 --select-len 1024 "${FIT[@]}" --plan-local-steps 0
done
python3 - "$OUT" "$M" <<'PY'
import glob, json, os, sys
files = ["wiki400k_lf.txt", "sec400k.txt"]
out = {"model": sys.argv[2], "rows": {}}
rows = {os.path.basename(f)[:-5]: json.load(open(f)) for f in sorted(glob.glob(f"{sys.argv[1]}/*.json"))}
for b in ("third", "half"):
    bkv = {n: r for n, r in rows.items() if n.startswith(f"{b}_uniform_bkv")}
    delta = lambda r, f: r["ppl"]["final"][f] - r["ppl"]["original"][f]
    best = min(bkv, key=lambda n: sum(delta(bkv[n], f) for f in files))
    for n, r in rows.items():
        if not n.startswith(b):
            continue
        row = {"kv_elements_per_token": r["kv_elements_per_token"]["after"], "plan": r["plan"], "ppl": r["ppl"]["final"],
               "original": r["ppl"]["original"], "convert_s": r["phases"]["convert"]["wall_s"],
               "plan_s": r.get("adaptive", {}).get("wall_s", 0.0), "baseline": best,
               "R": {f: (delta(bkv[best], f) - delta(r, f)) / delta(bkv[best], f) for f in files}}
        out["rows"][n] = row
        print(f"{n:24s} KV {row['kv_elements_per_token']:4d}  wiki {row['ppl'][files[0]]:8.2f}  sec {row['ppl'][files[1]]:7.2f}  "
              f"R {row['R'][files[0]]:5.2f} / {row['R'][files[1]]:5.2f}  ({row['convert_s'] + row['plan_s']:.0f} s)")
r0 = next(iter(rows.values()))
print(f"original: wiki {r0['ppl']['original'][files[0]]:.2f}  sec {r0['ppl']['original'][files[1]]:.2f}")
json.dump(out, open("bench/results/convert_fit_second.json", "w"), indent=1)
PY
