#!/usr/bin/env python3
"""Checks that `youzhi convert --target stock` output loads unmodified in transformers'
DeepseekV3ForCausalLM and gives the logits of our MLA decoder (issue #4, `stock` target).

For each exported directory: random token ids (seeded), our logits from `youzhi logits` (CPU,
float32), transformers' logits from from_pretrained(dir, dtype=float32) on CPU, max |diff| and
relative RMS; greedy next tokens must agree. Prints a table; exits 1 on any mismatch.
With `--ours LOGITS DIR`, our side is a `youzhi logits DIR --ids ... --out LOGITS` file made
elsewhere (its `input_ids` are the ids), for a machine that has transformers but no youzhi build.
usage: check_stock_export.py YOUZHI_BINARY DIR [DIR ...]
       check_stock_export.py --ours LOGITS.safetensors DIR
"""
import json
import subprocess
import sys
import tempfile

import torch
from safetensors.torch import load_file
from transformers import AutoModelForCausalLM

TOL_ABS = 2e-3   # float32 both sides from the same bf16 weights; sums in different orders


def youzhi_logits(youzhi, path, vocab):
    """Our float32 logits of 48 seeded random ids, by running `youzhi logits`."""
    g = torch.Generator().manual_seed(1234)
    ids = torch.randint(0, min(vocab, 4000), (1, 48), generator=g)
    with tempfile.TemporaryDirectory() as tmp:
        out = f"{tmp}/logits.safetensors"
        subprocess.run([youzhi, "logits", path, "--ids", ",".join(map(str, ids[0].tolist())),
                        "--out", out], check=True, capture_output=True)
        return ids, load_file(out)["logits"].double()


def check(path, ours_fn):
    cfg = json.load(open(f"{path}/config.json"))
    ids, ours = ours_fn(path, cfg["vocab_size"])
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32)
    assert type(model).__name__ == "DeepseekV3ForCausalLM", type(model).__name__
    missing = [n for n, p in model.named_parameters() if p.numel() == 0]
    with torch.no_grad():
        theirs = model(ids).logits[0].double()
    diff = (ours - theirs).abs().max().item()
    rel = ((ours - theirs).pow(2).mean().sqrt() / theirs.pow(2).mean().sqrt()).item()
    same_argmax = bool((ours.argmax(-1) == theirs.argmax(-1)).all())
    ok = diff < TOL_ABS and same_argmax and not missing
    return ok, diff, rel, same_argmax, cfg


def main():
    if sys.argv[1] == "--ours":
        t = load_file(sys.argv[2])
        ours_fn = lambda path, vocab: (t["input_ids"].long()[None], t["logits"].double())
        dirs = sys.argv[3:4]
    else:
        ours_fn = lambda path, vocab: youzhi_logits(sys.argv[1], path, vocab)
        dirs = sys.argv[2:]
    bad = 0
    print(f"{'directory':40} {'q_lora':>6} {'r':>4} {'d_r':>4} {'max|diff|':>10} {'rel RMS':>9} "
          f"{'argmax':>6} ok")
    for d in dirs:
        try:
            ok, diff, rel, same, cfg = check(d, ours_fn)
            print(f"{d:40} {str(cfg.get('q_lora_rank')):>6} {cfg['kv_lora_rank']:>4} "
                  f"{cfg['qk_rope_head_dim']:>4} {diff:10.2e} {rel:9.2e} {str(same):>6} {ok}")
        except Exception as e:  # report every directory, then fail
            ok = False
            print(f"{d:40} ERROR {type(e).__name__}: {e}")
        bad += not ok
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
