#!/usr/bin/env python3
"""Writes a random-weight checkpoint of a published config (e.g. tests/data/configs/
qwen2.5-7b.json) in bf16 safetensors shards, for scale tests of the converter on the GPU
machine: real shapes, no real weights. Weights ~ N(0, 0.02²), norms = 1, like an initialised
model. usage: make_random_checkpoint.py CONFIG.json OUT_DIR [TOKENIZER.json]
"""
import json
import os
import shutil
import sys

import torch
from safetensors.torch import save_file
from transformers import AutoConfig, AutoModelForCausalLM


def main():
    config_path, out = sys.argv[1], sys.argv[2]
    os.makedirs(out, exist_ok=True)
    cfg = AutoConfig.from_pretrained(config_path)
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(cfg)
    # Draw on the GPU when there is one: a 7B checkpoint's 7.6e9 normal samples take minutes on
    # the CPU.
    dev = "cuda" if torch.cuda.is_available() else "cpu"
    g = torch.Generator(device=dev).manual_seed(0)
    shard, size, index, n = {}, 0, {}, 0
    names = [(name, p.shape) for name, p in model.named_parameters()]
    files = []

    def flush():
        nonlocal shard, size, n
        if shard:
            n += 1
            fname = f"part-{n:05d}.safetensors"
            save_file(shard, f"{out}/{fname}", metadata={"format": "pt"})
            files.append((fname, list(shard)))
            shard, size = {}, 0

    for name, shape in names:
        if name.endswith("norm.weight"):
            t = torch.ones(shape, dtype=torch.bfloat16)
        else:
            t = (torch.randn(shape, generator=g, device=dev) * 0.02).to(torch.bfloat16).cpu()
        shard[name] = t
        size += t.numel() * 2
        if size > 4 << 30:
            flush()
    flush()
    for i, (fname, tensors) in enumerate(files):
        final = f"model-{i + 1:05d}-of-{len(files):05d}.safetensors"
        os.rename(f"{out}/{fname}", f"{out}/{final}")
        for t in tensors:
            index[t] = final
    json.dump({"metadata": {}, "weight_map": index}, open(f"{out}/model.safetensors.index.json", "w"))
    raw = json.load(open(config_path))
    raw["torch_dtype"] = "bfloat16"
    json.dump(raw, open(f"{out}/config.json", "w"), indent=2)
    if len(sys.argv) > 3:
        shutil.copy(sys.argv[3], f"{out}/tokenizer.json")
    print(f"wrote {out}: {sum(1 for _ in names)} tensors in {len(files)} shards")


if __name__ == "__main__":
    main()
