#!/usr/bin/env python3
"""The GKD step of `youzhi train distill` written in PyTorch: transformers models (teacher frozen
in bf16, student fp32 weights under bf16 autocast as HF Trainer's bf16=True runs, attention
parameters trainable, gradient checkpointing per layer), TRL's generalized_jsd_loss on the full
logits (trl/experimental/gkd/gkd_trainer.py, temperature 1, batchmean over counted tokens),
global-norm clipping and fused torch.optim.AdamW. The denominator of the speed ratio in
tools/gpu_run.sh's `trainbench` stage, and the check of our first-step loss.

Rows are the ones `youzhi train distill --documents files --data FILE` packs from one file: the
file's tokens (no special tokens) cut into consecutive rows of --seq-len, positions 0..T-1 per
row, each position predicting the next token of its row.

usage: train_gkd_hf.py --teacher T --student S --data FILE --seq-len 8192 --rows 1 --steps 4
                       [--beta 0.5] [--lr 1e-4] --out RESULT.json
"""
import argparse
import json
import time

import torch
import torch.nn.functional as F
from tokenizers import Tokenizer
from transformers import AutoModelForCausalLM


def generalized_jsd_loss(student_logits, teacher_logits, labels, beta):
    """TRL GKDTrainer.generalized_jsd_loss (temperature 1, reduction batchmean)."""
    student_log_probs = F.log_softmax(student_logits, dim=-1)
    teacher_log_probs = F.log_softmax(teacher_logits, dim=-1)
    if beta == 0:
        jsd = F.kl_div(student_log_probs, teacher_log_probs, reduction="none", log_target=True)
    elif beta == 1:
        jsd = F.kl_div(teacher_log_probs, student_log_probs, reduction="none", log_target=True)
    else:
        beta_t = torch.tensor(beta, dtype=student_log_probs.dtype, device=student_log_probs.device)
        mixture = torch.logsumexp(torch.stack([student_log_probs + torch.log(1 - beta_t),
                                               teacher_log_probs + torch.log(beta_t)]), dim=0)
        kl_teacher = F.kl_div(mixture, teacher_log_probs, reduction="none", log_target=True)
        kl_student = F.kl_div(mixture, student_log_probs, reduction="none", log_target=True)
        jsd = beta_t * kl_teacher + (1 - beta_t) * kl_student
    mask = labels != -100
    jsd = jsd[mask]
    return jsd.sum() / mask.sum().clamp_min(1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--teacher", required=True)
    ap.add_argument("--student", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--seq-len", type=int, default=8192)
    ap.add_argument("--rows", type=int, default=1)
    ap.add_argument("--steps", type=int, default=4)
    ap.add_argument("--beta", type=float, default=0.5)
    ap.add_argument("--lr", type=float, default=1e-4)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()

    tok = Tokenizer.from_file(f"{a.student}/tokenizer.json")
    text = open(a.data, encoding="utf-8").read()
    ids = tok.encode(text, add_special_tokens=False).ids
    T, R = a.seq_len, a.rows
    need = a.steps * R * T
    assert len(ids) >= need, f"{a.data}: {len(ids)} tokens, {need} needed"
    dev = "cuda"
    batches = [torch.tensor(ids[s * R * T:(s + 1) * R * T], device=dev).view(R, T)
               for s in range(a.steps)]

    teacher = AutoModelForCausalLM.from_pretrained(a.teacher, dtype=torch.bfloat16).to(dev).eval()
    for p in teacher.parameters():
        p.requires_grad_(False)
    student = AutoModelForCausalLM.from_pretrained(a.student, dtype=torch.float32).to(dev)
    params = []
    for name, p in student.named_parameters():
        p.requires_grad_(".self_attn." in name)
        if p.requires_grad:
            params.append(p)
    student.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    student.config.use_cache = False
    student.train()
    opt = torch.optim.AdamW(params, lr=a.lr, betas=(0.9, 0.95), eps=1e-8, weight_decay=0.0, fused=True)
    trainable = sum(p.numel() for p in params)

    losses, times = [], []
    torch.cuda.reset_peak_memory_stats()
    for s, x in enumerate(batches):
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        labels = x.clone()
        with torch.autocast("cuda", dtype=torch.bfloat16):
            with torch.no_grad():
                t_logits = teacher(input_ids=x, use_cache=False).logits[:, :-1]
            s_logits = student(input_ids=x, use_cache=False).logits[:, :-1]
        loss = generalized_jsd_loss(s_logits, t_logits, labels[:, 1:], a.beta)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
        losses.append(loss.item())
        del t_logits, s_logits, loss
        print(f"transformers step {s + 1}: loss {losses[-1]:.5f}  {times[-1]:.3f} s", flush=True)
    step_s = sum(times[1:]) / max(1, len(times) - 1)  # the first step warms up
    res = {"impl": "transformers + TRL generalized_jsd_loss", "teacher": a.teacher, "student": a.student,
           "seq_len": T, "rows": R, "tokens_per_step": R * T, "beta": a.beta, "losses": losses,
           "first_loss": losses[0], "step_s": step_s, "tokens_per_s": R * T / step_s,
           "peak_device_bytes": torch.cuda.max_memory_allocated(), "trainable_params": trainable}
    json.dump(res, open(a.out, "w"), indent=1)
    print(f"transformers: {res['tokens_per_s']:.0f} tokens/s, peak {res['peak_device_bytes'] / 2**30:.1f} GiB")


if __name__ == "__main__":
    main()
