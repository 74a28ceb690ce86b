#!/usr/bin/env python3
"""Writes a random-weight MLA checkpoint in our `native` layout (the tensor names and config
fields `youzhi convert` writes; per-layer kv_lora_rank / qk_rope_head_dim lists for adaptive
plans) from a published GQA config, for serving benchmarks at real shapes on the GPU machine:
the engine's speed and capacity depend on the shapes, not on the values. Weights ~ N(0, 0.02²),
norms = 1, bf16.
usage: make_random_mla_checkpoint.py GQA_CONFIG.json OUT_DIR --ranks R[,R...] --rope-dims D[,D...]
       [--tokenizer tokenizer.json]   (one value: every layer; a list: one per layer)
"""
import argparse
import json
import shutil

import torch

from make_random_checkpoint import ShardedWriter


def per_layer(text, layers):
    vals = [int(x) for x in text.split(",")]
    if len(vals) == 1:
        vals = vals * layers
    if len(vals) != layers:
        raise SystemExit(f"need 1 or {layers} values, got {len(vals)}")
    return vals


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("config")
    ap.add_argument("out")
    ap.add_argument("--ranks", required=True)
    ap.add_argument("--rope-dims", required=True)
    ap.add_argument("--tokenizer")
    a = ap.parse_args()
    src = json.load(open(a.config))
    L, H, hid = src["num_hidden_layers"], src["num_attention_heads"], src["hidden_size"]
    D = src.get("head_dim") or hid // H
    inter, vocab = src["intermediate_size"], src["vocab_size"]
    bias = src.get("model_type") == "qwen2" or src.get("attention_bias", False)
    ranks, dims = per_layer(a.ranks, L), per_layer(a.rope_dims, L)
    uniform = len(set(ranks)) == 1 and len(set(dims)) == 1
    cfg = {"architectures": ["DeepseekV3ForCausalLM"], "model_type": "deepseek_v3"}
    for k in ["vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads",
              "max_position_embeddings", "rms_norm_eps", "tie_word_embeddings", "bos_token_id",
              "eos_token_id", "rope_theta", "rope_scaling", "rope_parameters", "hidden_act"]:
        if k in src:
            cfg[k] = src[k]
    cfg.update({"num_key_value_heads": H, "q_lora_rank": None,
                "kv_lora_rank": ranks[0] if uniform else ranks,
                "qk_rope_head_dim": dims[0] if uniform else dims,
                "qk_nope_head_dim": D, "v_head_dim": D, "head_dim": dims[0], "attention_bias": bias,
                "qk_latent_layernorm": False, "rope_interleave": True, "first_k_dense_replace": L,
                "moe_layer_freq": 1, "num_nextn_predict_layers": 0, "torch_dtype": "bfloat16",
                "youzhi": {"converted_from": src.get("model_type"), "target": "native", "random": True,
                           "kv_lora_rank": ranks, "qk_rope_head_dim": dims}})
    # Draw on the GPU when there is one (a 7B checkpoint's samples take minutes on the CPU).
    dev = "cuda" if torch.cuda.is_available() else "cpu"
    g = torch.Generator(device=dev).manual_seed(0)

    def rnd(*shape):
        return (torch.randn(*shape, generator=g, device=dev) * 0.02).to(torch.bfloat16).cpu()

    w = ShardedWriter(a.out)
    add = w.add

    add("model.embed_tokens.weight", rnd(vocab, hid))
    for l in range(L):
        p, r, dr = f"model.layers.{l}.", ranks[l], dims[l]
        add(p + "input_layernorm.weight", torch.ones(hid, dtype=torch.bfloat16))
        add(p + "post_attention_layernorm.weight", torch.ones(hid, dtype=torch.bfloat16))
        add(p + "self_attn.q_proj.weight", rnd(H * (D + dr), hid))
        add(p + "self_attn.kv_a_proj_with_mqa.weight", rnd(r + dr, hid))
        if bias:
            add(p + "self_attn.q_proj.bias", rnd(H * (D + dr)))
            add(p + "self_attn.kv_a_proj_with_mqa.bias", rnd(r + dr))
        add(p + "self_attn.kv_b_proj.weight", rnd(H * 2 * D, r))
        add(p + "self_attn.o_proj.weight", rnd(hid, H * D))
        add(p + "mlp.gate_proj.weight", rnd(inter, hid))
        add(p + "mlp.up_proj.weight", rnd(inter, hid))
        add(p + "mlp.down_proj.weight", rnd(hid, inter))
    add("model.norm.weight", torch.ones(hid, dtype=torch.bfloat16))
    if not src.get("tie_word_embeddings", False):
        add("lm_head.weight", rnd(vocab, hid))
    w.close()
    json.dump(cfg, open(f"{a.out}/config.json", "w"), indent=2)
    if a.tokenizer:
        shutil.copy(a.tokenizer, f"{a.out}/tokenizer.json")
    kv = sum(r + d for r, d in zip(ranks, dims))
    print(f"wrote {a.out}: {L} layers, {kv} KV elements per token ({kv / (2 * src['num_key_value_heads'] * D * L):.3f} of the GQA cache)")


if __name__ == "__main__":
    main()
