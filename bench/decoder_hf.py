"""transformers' side of bench_decoder: same model directory, batch, prompt and new-token counts;
prefill = one forward with use_cache into an empty cache, decode = one-token greedy steps."""
import json
import sys
import time

import torch
from transformers import AutoModelForCausalLM


def main():
    model_dir, device, dtype, batch, prompt, fresh = sys.argv[1:7]
    out = sys.argv[7] if len(sys.argv) > 7 else None
    batch, prompt, fresh = int(batch), int(prompt), int(fresh)
    dt = {"float32": torch.float32, "bfloat16": torch.bfloat16}[dtype]
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=dt).to(device).eval()
    torch.manual_seed(0)
    ids = torch.randint(0, model.config.vocab_size, (batch, prompt), device=device)
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    best_p = best_d = 1e30
    with torch.no_grad():
        for _ in range(3):
            sync()
            t0 = time.perf_counter()
            o = model(ids, use_cache=True)
            nxt = o.logits[:, -1].argmax(-1, keepdim=True)
            past = o.past_key_values
            sync()
            best_p = min(best_p, time.perf_counter() - t0)
            t0 = time.perf_counter()
            for _ in range(fresh):
                o = model(nxt, past_key_values=past, use_cache=True)
                past = o.past_key_values
                nxt = o.logits[:, -1].argmax(-1, keepdim=True)
            sync()
            best_d = min(best_d, time.perf_counter() - t0)
    res = {"impl": "transformers", "model": model_dir, "device": device, "dtype": dtype,
           "batch": batch, "prompt_len": prompt, "new_tokens": fresh,
           "prefill_tok_s": batch * prompt / best_p, "decode_tok_s": batch * fresh / best_d}
    print(f"transformers batch {batch:3d}  prefill {res['prefill_tok_s']:10.1f} tok/s  decode {res['decode_tok_s']:9.1f} tok/s")
    if out:
        json.dump(res, open(out, "w"), indent=2)


if __name__ == "__main__":
    main()
