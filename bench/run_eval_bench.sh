#!/usr/bin/env bash
# Log-likelihood scoring throughput, `youzhi eval` vs transformers one request at a time (as
# lm-evaluation-harness runs it), same run, same FPB + TFNS requests (the first LIMIT documents
# of each, 3 choices per document): the bundled model (float32) and a Qwen2.5-1.5B-shaped model
# with random bf16 weights (tests/data/configs/qwen2.5-1.5b.json, Qwen3 tokenizer = Qwen2.5's BPE).
# GPU machine, after `tools/gpu_run.sh build` (stage `evalbench` runs this). Writes JSON to $1.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT_JSON=${1:-bench/results/eval_speed.json}
LIMIT=${EVAL_BENCH_LIMIT:-400}
DATA=${EVAL_BENCH_DATA:-../shared/data}
TOK=.gpu/data
R=/tmp/evalbench; rm -rf $R; mkdir -p $R
Q15=/tmp/qwen25_1p5b_eval
if [ ! -f $Q15/config.json ]; then
  [ -f $TOK/qwen3_tokenizer.json ] || xz -dkf $TOK/qwen3_tokenizer.json.xz
  python3 tools/make_random_checkpoint.py tests/data/configs/qwen2.5-1.5b.json $Q15 $TOK/qwen3_tokenizer.json
  cp $TOK/qwen3_tokenizer_config.json $Q15/tokenizer_config.json
fi
run() {  # name model dtype batch
  build-cuda/youzhi eval "$2" --tasks fpb,tfns --limit $LIMIT --device cuda --dtype "$3" \
    --batch "$4" --data-dir "$DATA" --out "$R/$1_youzhi.json" --overwrite > /dev/null
  python3 bench/eval_hf.py "$2" "$DATA" $LIMIT cuda "$3" "$R/$1_hf.json"
}
run yz models/yz-qwen2-gqa-16m float32 64
run q15 $Q15 bfloat16 32
python3 - "$R" "$OUT_JSON" $LIMIT <<'PY'
import datetime, json, subprocess, sys
r, out, limit = sys.argv[1], sys.argv[2], int(sys.argv[3])
gpu = subprocess.run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"],
                     capture_output=True, text=True).stdout.strip()
rows = []
for name, label in [("yz", "yz-qwen2-gqa-16m, fp32"), ("q15", "Qwen2.5-1.5B shape (random), bf16")]:
    a = json.load(open(f"{r}/{name}_youzhi.json")); b = json.load(open(f"{r}/{name}_hf.json"))
    for task in ("fpb", "tfns"):
        y, h = a["tasks"][task]["loglik"], b["tasks"][task]
        rows.append({"case": label, "task": task, "requests": y["requests"],
                     "youzhi_s": y["wall_s"], "hf_s": h["seconds"],
                     "youzhi_req_s": y["requests"] / y["wall_s"], "hf_req_s": h["requests_per_s"],
                     "youzhi_acc": y["acc"], "hf_acc": h["acc"], "youzhi_forwards": y["forwards"]})
json.dump({"benchmark": "log-likelihood requests/s, youzhi eval vs transformers one by one",
           "date": datetime.date.today().isoformat(), "gpu": gpu, "limit_per_task": limit,
           "rows": rows}, open(out, "w"), indent=2)
print(f"{'case':38} {'task':5} {'requests':>8} {'youzhi req/s':>12} {'hf req/s':>9} {'ratio':>6} "
      f"{'acc youzhi':>10} {'acc hf':>7}")
for x in rows:
    print(f"{x['case']:38} {x['task']:5} {x['requests']:8d} {x['youzhi_req_s']:12.1f} "
          f"{x['hf_req_s']:9.1f} {x['youzhi_req_s'] / x['hf_req_s']:6.1f} {x['youzhi_acc']:10.4f} "
          f"{x['hf_acc']:7.4f}")
PY
