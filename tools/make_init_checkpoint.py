#!/usr/bin/env python3
"""A freshly initialised Qwen2/Llama checkpoint for training from scratch, with the Python
standard library only (the CPU machines have no NumPy or PyTorch): every matrix float32 with
|w| in [2^-7, 2^-5) and a random sign (about the spread of initializer_range 0.02), norms 1,
biases 0, embeddings tied when the config says so. Copies the tokenizer files of TOKENIZER_DIR.
The draws come from random.Random(SEED) (default 0), so a seed gives the same checkpoint.
usage: make_init_checkpoint.py CONFIG.json OUT_DIR TOKENIZER_DIR [SEED]"""
import json
import os
import random
import shutil
import struct
import sys

cfg_path, out, tok_dir = sys.argv[1:4]
rng = random.Random(int(sys.argv[4]) if len(sys.argv) > 4 else 0)
cfg = json.load(open(cfg_path))
H, I, V, L = cfg["hidden_size"], cfg["intermediate_size"], cfg["vocab_size"], cfg["num_hidden_layers"]
nh, kvh = cfg["num_attention_heads"], cfg["num_key_value_heads"]
D = cfg.get("head_dim", H // nh)
bias = cfg["model_type"] == "qwen2" or cfg.get("attention_bias", False)
# A bfloat16 pattern widened to float32: random low byte (exponent LSB + mantissa), high byte
# sign + exponent 120 or 121.
HIGH = bytes((0xBC if b & 1 else 0x3C) for b in range(256))


def uniform(n):
    r = bytearray(rng.randbytes(2 * n))
    r[1::2] = bytes(r[1::2]).translate(HIGH)
    f = bytearray(4 * n)
    f[2::4], f[3::4] = r[0::2], r[1::2]
    return bytes(f)


def ones(n):
    return struct.pack("<f", 1.0) * n


def zeros(n):
    return bytes(4 * n)


tensors = {"model.embed_tokens.weight": ([V, H], uniform), "model.norm.weight": ([H], ones)}
if not cfg.get("tie_word_embeddings", False):
    tensors["lm_head.weight"] = ([V, H], uniform)
for layer in range(L):
    p = f"model.layers.{layer}."
    parts = [("self_attn.q_proj.weight", [nh * D, H], uniform), ("self_attn.k_proj.weight", [kvh * D, H], uniform),
             ("self_attn.v_proj.weight", [kvh * D, H], uniform), ("self_attn.o_proj.weight", [H, nh * D], uniform),
             ("mlp.gate_proj.weight", [I, H], uniform), ("mlp.up_proj.weight", [I, H], uniform),
             ("mlp.down_proj.weight", [H, I], uniform), ("input_layernorm.weight", [H], ones),
             ("post_attention_layernorm.weight", [H], ones)]
    if bias:
        parts += [("self_attn.q_proj.bias", [nh * D], zeros), ("self_attn.k_proj.bias", [kvh * D], zeros),
                  ("self_attn.v_proj.bias", [kvh * D], zeros)]
    for name, shape, fill in parts:
        tensors[p + name] = (shape, fill)

header, offset = {}, 0
for name, (shape, _) in tensors.items():
    size = 4
    for x in shape:
        size *= x
    header[name] = {"dtype": "F32", "shape": shape, "data_offsets": [offset, offset + size]}
    offset += size
blob = json.dumps(header).encode()
blob += b" " * (-len(blob) % 8)
os.makedirs(out, exist_ok=True)
with open(f"{out}/model.safetensors.tmp", "wb") as f:
    f.write(struct.pack("<Q", len(blob)))
    f.write(blob)
    for name, (shape, fill) in tensors.items():
        n = 1
        for x in shape:
            n *= x
        f.write(fill(n))
os.replace(f"{out}/model.safetensors.tmp", f"{out}/model.safetensors")
cfg["dtype"] = "float32"
json.dump(cfg, open(f"{out}/config.json", "w"), indent=1)
for name in ("tokenizer.json", "tokenizer_config.json", "generation_config.json"):
    if os.path.exists(f"{tok_dir}/{name}"):
        shutil.copy(f"{tok_dir}/{name}", f"{out}/{name}")
print(f"wrote {out}: {len(tensors)} tensors, {offset // 4} parameters")
