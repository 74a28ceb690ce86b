"""transformers' side of the eval benchmark: the FPB and TFNS requests `youzhi eval` scores
(FinLoRA prompts, labels negative/neutral/positive after the prompt's "Answer: "), each
(context, continuation) pair as its own forward, as lm-evaluation-harness runs them at batch
size 1 (HFLM._loglikelihood_tokens). Times tokenization and scoring after one warm-up forward.

usage: eval_hf.py MODEL_DIR DATA_DIR LIMIT DEVICE DTYPE OUT.json
"""
import json
import os
import sys
import time

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools"))
import eval_prompts as ep  # noqa: E402

# TFNS: FinLoRA's file has TFNS's Bullish/Neutral ids mapped to neutral/positive; youzhi scores
# them swapped back (README "Evaluation"). Accuracy only: the requests are the same either way.
TFNS_FIX = {"neutral": "positive", "positive": "neutral"}


def main():
    model_dir, data, limit, device, dtype, out = sys.argv[1:7]
    limit = int(limit)
    dt = {"float32": torch.float32, "bfloat16": torch.bfloat16}[dtype]
    tok = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=dt).to(device).eval()
    max_length = model.config.max_position_embeddings
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    tasks = {"fpb": ep.finlora_rows(f"{data}/fin_eval/finlora/fpb_test.jsonl")[:limit],
             "tfns": ep.finlora_rows(f"{data}/fin_eval/finlora/tfns_test.jsonl")[:limit]}
    with torch.no_grad():
        model(torch.tensor([[0, 1, 2]], device=device))  # warm-up (CUDA context, kernels)
        sync()
        res = {"impl": "transformers", "model": model_dir, "device": device, "dtype": dtype,
               "limit": limit, "tasks": {}}
        for name, rows in tasks.items():
            t0 = time.perf_counter()
            correct = 0
            for r in rows:
                lls = []
                for label in ep.SENTIMENT:
                    ctx, cont = ep.encode_pair(tok, r["context"], label)
                    window = (ctx + cont)[-(max_length + 1):][:-1]
                    logits = model(torch.tensor([window], device=device)).logits[0, -len(cont):]
                    logp = torch.log_softmax(logits.float(), -1)
                    lls.append(logp.gather(1, torch.tensor(cont, device=device)[:, None]).sum().item())
                gold = TFNS_FIX.get(r["target"], r["target"]) if name == "tfns" else r["target"]
                correct += ep.SENTIMENT[max(range(3), key=lambda i: lls[i])] == gold
            sync()
            dt_s = time.perf_counter() - t0
            res["tasks"][name] = {"requests": 3 * len(rows), "seconds": dt_s,
                                  "requests_per_s": 3 * len(rows) / dt_s, "acc": correct / len(rows)}
            print(f"transformers {name}: {3 * len(rows)} requests in {dt_s:.2f} s "
                  f"({3 * len(rows) / dt_s:.1f} req/s), acc {correct / len(rows):.4f}")
    json.dump(res, open(out, "w"), indent=1)


if __name__ == "__main__":
    main()
