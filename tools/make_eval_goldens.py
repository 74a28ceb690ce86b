#!/usr/bin/env python3
"""Per-choice log-likelihood goldens from transformers for `youzhi eval` (run on the GPU machine,
which has transformers; computed on its CPU in float32 so no TF32 rounding enters): 20 documents
of FPB with 3 shots (seed 1234; single-token labels after a long few-shot prompt) and 20 of
NWGI zero-shot (seven labels of one to three tokens). Prompts come from tools/eval_prompts.py (the
Python reference of our prompt rules), the token split from lm-eval's _encode_pair with the
model's Hugging Face tokenizer, and each choice is one full forward over lm-eval's window
(HFLM._loglikelihood_tokens at batch size 1). tests/eval/scoring_test.cc compares within 1e-4.

usage: python3 tools/make_eval_goldens.py MODEL_DIR DATA_DIR OUT_JSON
"""
import json
import os
import sys

import torch
import transformers
from transformers import AutoModelForCausalLM, AutoTokenizer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import eval_prompts as ep  # noqa: E402

DOCS = 20


def score(model, ctx, cont, max_length):
    window = (ctx + cont)[-(max_length + 1):][:-1]
    with torch.no_grad():
        logits = model(torch.tensor([window])).logits[0].float()
    logp = torch.log_softmax(logits, -1)[len(window) - len(cont):]
    picked = logp.gather(1, torch.tensor(cont)[:, None])[:, 0]
    greedy = bool((logp.argmax(-1) == torch.tensor(cont)).all())
    return picked.double().sum().item(), greedy


def main():
    model_dir, data, out = sys.argv[1:4]
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    tok = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()
    max_length = model.config.max_position_embeddings
    tasks = []
    for name, shots, docs in [("fpb", 3, ep.fpb_prompts(data, 3, 1234, DOCS)),
                              ("nwgi", 0, ep.nwgi_prompts(data, DOCS))]:
        rows = []
        for d in docs:
            row = {"context": d["context"], "continuation_ids": [], "logprob": [], "greedy": []}
            for choice in d["choices"]:
                ctx, cont = ep.encode_pair(tok, d["context"], d["target_delimiter"] + choice)
                lp, greedy = score(model, ctx, cont, max_length)
                row["context_ids"] = ctx
                row["continuation_ids"].append(cont)
                row["logprob"].append(lp)
                row["greedy"].append(greedy)
            rows.append(row)
        tasks.append({"task": name, "shots": shots, "seed": 1234, "docs": rows})
        print(f"{name}: {len(rows)} documents, {sum(len(r['logprob']) for r in rows)} choices")
    json.dump({"source": f"transformers {transformers.__version__}, torch {torch.__version__}, "
                         "float32 on CPU", "model": os.path.basename(os.path.normpath(model_dir)),
               "max_length": max_length, "tasks": tasks},
              open(out, "w", encoding="utf-8"), ensure_ascii=False, indent=1)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
