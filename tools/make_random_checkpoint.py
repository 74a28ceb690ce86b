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


class ShardedWriter:
    """bf16 tensors into ~4 GiB safetensors shards named model-0000i-of-0000n with the Hugging
    Face index (shared by make_random_mla_checkpoint.py)."""

    def __init__(self, out):
        self.out, self.files, self.shard, self.size = out, [], {}, 0
        os.makedirs(out, exist_ok=True)

    def add(self, name, t):
        self.shard[name] = t
        self.size += t.numel() * t.element_size()
        if self.size > 4 << 30:
            self.flush()

    def flush(self):
        if self.shard:
            fname = f"part-{len(self.files) + 1:05d}.safetensors"
            save_file(self.shard, f"{self.out}/{fname}", metadata={"format": "pt"})
            self.files.append((fname, list(self.shard)))
            self.shard, self.size = {}, 0

    def close(self):
        self.flush()
        index = {}
        for i, (fname, tensors) in enumerate(self.files):
            final = f"model-{i + 1:05d}-of-{len(self.files):05d}.safetensors"
            os.rename(f"{self.out}/{fname}", f"{self.out}/{final}")
            for t in tensors:
                index[t] = final
        json.dump({"metadata": {}, "weight_map": index},
                  open(f"{self.out}/model.safetensors.index.json", "w"))
        return len(self.files)


def main():
    config_path, out = sys.argv[1], sys.argv[2]
    cfg = AutoConfig.from_pretrained(config_path)
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(cfg)
    # Draw on the GPU when there is one: a 7B checkpoint's 7.6e9 normal samples take minutes on
    # the CPU.
    dev = "cuda" if torch.cuda.is_available() else "cpu"
    g = torch.Generator(device=dev).manual_seed(0)
    names = [(name, p.shape) for name, p in model.named_parameters()]
    w = ShardedWriter(out)
    for name, shape in names:
        if name.endswith("norm.weight"):
            t = torch.ones(shape, dtype=torch.bfloat16)
        else:
            t = (torch.randn(shape, generator=g, device=dev) * 0.02).to(torch.bfloat16).cpu()
        w.add(name, t)
    shards = w.close()
    raw = json.load(open(config_path))
    raw["torch_dtype"] = "bfloat16"
    json.dump(raw, open(f"{out}/config.json", "w"), indent=2)
    if len(sys.argv) > 3:
        shutil.copy(sys.argv[3], f"{out}/tokenizer.json")
    print(f"wrote {out}: {len(names)} tensors in {shards} shards")


if __name__ == "__main__":
    main()
