#!/usr/bin/env bash
# Decoder throughput, ours vs transformers in the same run (GPU machine): yz-qwen2-gqa-16m on
# the CPU (float32, batch 1) and a Qwen2.5-1.5B-shaped model with random bf16 weights on the GPU
# at batch 1 and 16 (prompt 512, 128 new tokens). Writes the combined JSON to $1.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT_JSON=${1:-bench/results/decoder.json}
B=build-cuda/bench/bench_decoder
R=/tmp/decbench; rm -rf $R; mkdir -p $R
python3 - <<'PY'
import torch
from transformers import Qwen2Config, Qwen2ForCausalLM
torch.manual_seed(0)
cfg = Qwen2Config(vocab_size=151936, hidden_size=1536, intermediate_size=8960, num_hidden_layers=28,
                  num_attention_heads=12, num_key_value_heads=2, max_position_embeddings=32768,
                  rope_theta=1e6, rms_norm_eps=1e-6, tie_word_embeddings=True)
with torch.device("cuda"):
    m = Qwen2ForCausalLM(cfg).to(torch.bfloat16)
m.save_pretrained("/tmp/qwen25_1p5b_random", safe_serialization=True)
PY
run() {  # name model device dtype batch prompt new
  $B "$2" "$3" "$4" "$5" "$6" "$7" "$R/$1_youzhi.json"
  python3 bench/decoder_hf.py "$2" "$3" "$4" "$5" "$6" "$7" "$R/$1_hf.json"
}
OMP_NUM_THREADS=16 run yz_cpu models/yz-qwen2-gqa-16m cpu float32 1 512 64
run q15_b1 /tmp/qwen25_1p5b_random cuda bfloat16 1 512 128
run q15_b16 /tmp/qwen25_1p5b_random cuda bfloat16 16 512 128
python3 - "$R" "$OUT_JSON" <<'PY'
import json, sys, datetime, subprocess
r, out = sys.argv[1], sys.argv[2]
gpu = subprocess.run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"], capture_output=True, text=True).stdout.strip()
rows = []
for name, label in [("yz_cpu", "yz-qwen2-gqa-16m, CPU fp32, batch 1"),
                    ("q15_b1", "Qwen2.5-1.5B shape, GPU bf16, batch 1"),
                    ("q15_b16", "Qwen2.5-1.5B shape, GPU bf16, batch 16")]:
    a = json.load(open(f"{r}/{name}_youzhi.json")); b = json.load(open(f"{r}/{name}_hf.json"))
    rows.append({"case": label, "youzhi_prefill": a["prefill_tok_s"], "hf_prefill": b["prefill_tok_s"],
                 "youzhi_decode": a["decode_tok_s"], "hf_decode": b["decode_tok_s"],
                 "prompt_len": a["prompt_len"], "new_tokens": a["new_tokens"]})
json.dump({"benchmark": "decoder prefill/decode tokens/s", "date": datetime.date.today().isoformat(),
           "gpu": gpu, "rows": rows}, open(out, "w"), indent=2)
print(f"{'case':40} {'prefill ours':>13} {'prefill hf':>11} {'ratio':>6} {'decode ours':>12} {'decode hf':>10} {'ratio':>6}")
for x in rows:
    print(f"{x['case']:40} {x['youzhi_prefill']:13.0f} {x['hf_prefill']:11.0f} {x['youzhi_prefill']/x['hf_prefill']:6.2f} "
          f"{x['youzhi_decode']:12.1f} {x['hf_decode']:10.1f} {x['youzhi_decode']/x['hf_decode']:6.2f}")
PY
