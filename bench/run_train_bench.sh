#!/usr/bin/env bash
# GKD step throughput on one GPU (issue 12, measured result 2): a Qwen2.5-7B-shaped random teacher
# (GQA) and its MLA student (r = 512, d_r = 64, stock target so that transformers loads it),
# --train attn, 8192 tokens per step (one row of 8192), λ = 0, β = 0.5; ours (`youzhi train
# distill`) then the same step in PyTorch (bench/train_gkd_hf.py: transformers + TRL's loss) on
# the same rows. Prints a short table and writes the combined JSON to $1. Needs build-cuda/ and
# .gpu/data (tools/gpu_run.sh build first). Reuses /tmp/q7b and /tmp/q7b_mla when present.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT_JSON=${1:-bench/results/train_gkd_7b.json}
Y=build-cuda/youzhi
STEPS=${TRAINBENCH_STEPS:-4}
xz -dc .gpu/data/pretrain_10mb.txt.xz > /tmp/pretrain10.txt
[ -f /tmp/q7b/config.json ] || python3 tools/make_random_checkpoint.py tests/data/configs/qwen2.5-7b.json /tmp/q7b .gpu/data/qwen3_tokenizer.json
[ -f /tmp/q7b_mla/config.json ] || $Y convert --model /tmp/q7b --out /tmp/q7b_mla --device cuda \
  --target stock --rope-dim 64 --kv-lora-rank 512 --freqfold 4 --calib /tmp/pretrain10.txt \
  --calib-samples 16 --calib-len 512 > /tmp/q7b_mla_convert.log 2>&1
$Y train distill --teacher /tmp/q7b --student /tmp/q7b_mla --data /tmp/pretrain10.txt --documents files \
  --out /tmp/q7b_gkd --overwrite --device cuda --seq-len 8192 --batch-tokens 8192 --steps "$STEPS" \
  --lambda 0 --beta 0.5 --train attn --lr 1e-4 --warmup 0 --no-save --json > /tmp/trainbench_youzhi.json
python3 bench/train_gkd_hf.py --teacher /tmp/q7b --student /tmp/q7b_mla --data /tmp/pretrain10.txt \
  --seq-len 8192 --rows 1 --steps "$STEPS" --beta 0.5 --lr 1e-4 --out /tmp/trainbench_hf.json
python3 - "$OUT_JSON" <<'PY'
import datetime, json, subprocess, sys
ours = json.load(open("/tmp/trainbench_youzhi.json"))
hf = json.load(open("/tmp/trainbench_hf.json"))
log = [json.loads(l) for l in open("/tmp/q7b_gkd/train/log.jsonl") if '"loss"' in l]
steady = log[1:] or log  # the first step warms up (allocator, cuBLAS plans)
tps = sum(r["tokens_per_s"] for r in steady) / len(steady)
mfu = sum(r["mfu"] for r in steady) / len(steady)
gpu = subprocess.run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"], capture_output=True, text=True).stdout.strip()
res = {"benchmark": "one GKD step, Qwen2.5-7B-shaped teacher -> MLA student (r 512, d_r 64), --train attn, 8192 tokens",
       "date": datetime.date.today().isoformat(), "gpu": gpu,
       "youzhi": {"tokens_per_s": tps, "mfu": mfu, "first_loss": log[0]["loss"],
                  "peak_device_bytes": ours["peak_device_bytes"], "loss_peak_bytes": ours["loss_peak_bytes"],
                  "trainable_params": ours["trainable_params"], "steps": log},
       "transformers": hf, "speed_ratio": tps / hf["tokens_per_s"],
       "transformers_mfu": mfu * hf["tokens_per_s"] / tps,
       "first_loss_abs_diff": abs(log[0]["loss"] - hf["first_loss"])}
json.dump(res, open(sys.argv[1], "w"), indent=1)
G = 2**30
print("| impl | tokens/s | MFU | peak GPU mem | loss memory | first-step loss |")
print("|---|---|---|---|---|---|")
print(f"| youzhi | {tps:.0f} | {100*mfu:.1f}% | {ours['peak_device_bytes']/G:.1f} GiB | {ours['loss_peak_bytes']/G:.2f} GiB | {log[0]['loss']:.5f} |")
print(f"| transformers + TRL loss | {hf['tokens_per_s']:.0f} | {100*res['transformers_mfu']:.1f}% | {hf['peak_device_bytes']/G:.1f} GiB | (full logits) | {hf['first_loss']:.5f} |")
print(f"speed ratio {res['speed_ratio']:.2f}x, |first-loss difference| {res['first_loss_abs_diff']:.2e}")
PY
