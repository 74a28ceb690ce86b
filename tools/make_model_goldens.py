"""Decoder goldens from transformers (run on the GPU machine, which has it; computed on its CPU
in float32 so no TF32 rounding enters): tiny random models of every family quirk we support,
each saved as a Hugging Face directory with golden.safetensors beside it, plus CPU logits and
perplexity of the in-house model. Checked by tests/model/tiny_models_test.cc.

Usage: python3 tools/make_model_goldens.py OUT_DIR
"""
import json
import math
import os
import sys

import torch
import transformers
from safetensors.torch import save_file
from transformers import (DeepseekV2Config, DeepseekV2ForCausalLM, DeepseekV3Config,
                          DeepseekV3ForCausalLM, LlamaConfig, LlamaForCausalLM, MistralConfig,
                          MistralForCausalLM, Qwen2Config, Qwen2ForCausalLM, AutoModelForCausalLM,
                          AutoTokenizer)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
V = 256
COMMON = dict(vocab_size=V, max_position_embeddings=256, initializer_range=0.2,
              tie_word_embeddings=False, bos_token_id=1, eos_token_id=2)
MLA = dict(hidden_size=64, intermediate_size=128, moe_intermediate_size=32, num_hidden_layers=2,
           num_attention_heads=4, num_key_value_heads=4, kv_lora_rank=32, qk_rope_head_dim=8,
           qk_nope_head_dim=16, v_head_dim=16, first_k_dense_replace=2)
YARN = dict(rope_type="yarn", factor=4.0, original_max_position_embeddings=32, beta_fast=32.0,
            beta_slow=1.0)

CASES = {
    # Llama-3.1 rope scaling (llama3), GQA group 2
    "llama31": (LlamaForCausalLM, LlamaConfig(
        hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, rms_norm_eps=1e-5, rope_theta=500000.0,
        rope_scaling=dict(rope_type="llama3", factor=8.0, low_freq_factor=1.0,
                          high_freq_factor=4.0, original_max_position_embeddings=32), **COMMON)),
    # Llama with attention_bias (q/k/v/o biases) and linear rope scaling
    "llama_bias_linear": (LlamaForCausalLM, LlamaConfig(
        hidden_size=64, intermediate_size=96, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=4, attention_bias=True, rope_theta=10000.0,
        rope_scaling=dict(rope_type="linear", factor=2.0), **COMMON)),
    # Mistral, multi-query (one KV head)
    "mistral": (MistralForCausalLM, MistralConfig(
        hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=1, sliding_window=None, rope_theta=1e6, **COMMON)),
    # Qwen2.5 shape (group 7, q/k/v biases, tied embeddings), few layers
    "qwen25": (Qwen2ForCausalLM, Qwen2Config(
        hidden_size=112, intermediate_size=224, num_hidden_layers=3, num_attention_heads=14,
        num_key_value_heads=2, rope_theta=1e6, **{**COMMON, "tie_word_embeddings": True})),
    # Non-power-of-two head_dim 48
    "qwen2_hd48": (Qwen2ForCausalLM, Qwen2Config(
        hidden_size=192, intermediate_size=256, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, rope_theta=10000.0, **COMMON)),
    # DeepSeek-V3 dense with low-rank query
    "dsv3_qlora": (DeepseekV3ForCausalLM, DeepseekV3Config(q_lora_rank=24, rope_theta=10000.0,
                                                          **MLA, **COMMON)),
    # DeepSeek-V3 dense, full-rank query, yarn with mscale (softmax scale x mscale^2)
    "dsv3_yarn": (DeepseekV3ForCausalLM, DeepseekV3Config(
        q_lora_rank=None, rope_theta=10000.0,
        rope_scaling=dict(**YARN, mscale=1.0, mscale_all_dim=1.0), **MLA, **COMMON)),
    # DeepSeek-V2-Lite-like (model_type deepseek_v2, yarn mscale 0.707)
    "dsv2_lite": (DeepseekV2ForCausalLM, DeepseekV2Config(
        q_lora_rank=None, rope_theta=10000.0, n_routed_experts=4, n_shared_experts=1,
        rope_scaling=dict(**YARN, mscale=0.707, mscale_all_dim=0.707), **MLA, **COMMON)),
}
CTX = 16


def window_nll(model, ids, ctx):
    """Mean NLL over consecutive non-overlapping windows of ctx tokens (ctx-1 predictions each)."""
    total, count = 0.0, 0
    for start in range(0, len(ids) - ctx + 1, ctx):
        w = torch.tensor(ids[start:start + ctx])[None]
        logits = model(w).logits[0].double()
        logp = torch.log_softmax(logits[:-1], -1)
        total -= logp.gather(1, w[0, 1:, None]).sum().item()
        count += ctx - 1
    return total, count


@torch.no_grad()
def tiny(out_dir):
    for i, (name, (cls, cfg)) in enumerate(CASES.items()):
        torch.manual_seed(1000 + i)
        model = cls(cfg).float().eval()
        d = os.path.join(out_dir, name)
        model.generation_config.eos_token_id = None
        model.generation_config.pad_token_id = 0
        model.save_pretrained(d, safe_serialization=True)
        g = torch.Generator().manual_seed(7 + i)
        ids = torch.randint(0, V, (1, 40), generator=g)
        logits = model(ids).logits[0].float()
        greedy = model.generate(ids[:, :8], max_new_tokens=12, do_sample=False)[0]
        ppl_ids = torch.randint(0, V, (3 * CTX + 5,), generator=g)
        nll, count = window_nll(model, ppl_ids.tolist(), CTX)
        save_file({"input_ids": ids[0].contiguous(), "logits": logits.contiguous(),
                   "greedy_ids": greedy.contiguous(), "ppl_ids": ppl_ids,
                   "ppl_nll": torch.tensor([nll / count], dtype=torch.float64)},
                  os.path.join(d, "golden.safetensors"),
                  metadata={"ppl_ctx": str(CTX), "transformers": transformers.__version__})
        print(f"{name:18} {cls.__name__:24} ppl {math.exp(nll / count):10.3f}")


@torch.no_grad()
def in_house(out_dir):
    m = os.path.join(ROOT, "models/yz-qwen2-gqa-16m")
    model = AutoModelForCausalLM.from_pretrained(m, dtype=torch.float32).eval()
    tok = AutoTokenizer.from_pretrained(m)
    prompts = ["The Federal Reserve raised interest rates by", "Once upon a time, there was a",
               "def parse_config(path):\n    ", "Net income for the fiscal year increased to $"]
    tensors = {}
    for i, p in enumerate(prompts):
        ids = tok(p, return_tensors="pt").input_ids
        tensors[f"prompt{i}.input_ids"] = ids[0].to(torch.int32).contiguous()
        tensors[f"prompt{i}.logits"] = model(ids).logits[0].float().contiguous()
    text = open(os.path.join(ROOT, "data/demo/wikitext2_test_head.txt"), encoding="utf-8").read()
    ids = tok(text).input_ids
    results = {}
    for ctx in (128, 512):
        nll, count = window_nll(model, ids, ctx)
        results[str(ctx)] = {"nll": nll / count, "tokens": count, "ppl": math.exp(nll / count)}
    save_file(tensors, os.path.join(out_dir, "yz_cpu_golden.safetensors"),
              metadata={"prompts": json.dumps(prompts), "transformers": transformers.__version__,
                        "note": "float32 on CPU (no TF32)"})
    json.dump({"file": "data/demo/wikitext2_test_head.txt", "ppl": results,
               "transformers": transformers.__version__},
              open(os.path.join(out_dir, "yz_ppl_golden.json"), "w"), indent=2)
    print("yz-qwen2-gqa-16m ppl", {k: round(v["ppl"], 4) for k, v in results.items()})


if __name__ == "__main__":
    torch.set_num_threads(16)
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    tiny(out)
    in_house(out)
