"""Combines the two sides of the tokenizer benchmark (bench_tokenizer + tokenizer_hf.py, same run,
same machine) into one results file and prints the comparison table."""
import datetime
import json
import platform
import subprocess
import sys


def main():
    src, out = sys.argv[1], sys.argv[2]
    try:
        gpu_host = subprocess.run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"],
                                  capture_output=True, text=True).stdout.strip()
    except OSError:
        gpu_host = ""
    cpu = ""
    for line in open("/proc/cpuinfo"):
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    rows = []
    for name, label in [("yz", "yz-qwen2-gqa-16m (8k vocab)"), ("qwen3", "Qwen2/2.5/3 (151k vocab)")]:
        a = json.load(open(f"{src}/bench_tok_{name}_youzhi.json"))
        b = json.load(open(f"{src}/bench_tok_{name}_hf.json"))
        rows.append({"tokenizer": label, "youzhi_mb_per_s": a["mb_per_s"],
                     "tokenizers_mb_per_s": b["mb_per_s"],
                     "tokenizers_batch_mb_per_s": b["batch_mb_per_s"],
                     "tokenizers_batch_threads": b["batch_threads"],
                     "ratio": a["mb_per_s"] / b["mb_per_s"], "tokens": a["tokens"],
                     "same_tokens": a["tokens"] == b["tokens"], "bytes": a["bytes"]})
    res = {"benchmark": "tokenizer encode, 10 MB of corpus/pretrain.txt, line by line, one thread",
           "date": datetime.date.today().isoformat(), "machine": f"{cpu} (host of {gpu_host})",
           "python": platform.python_version(), "rows": rows}
    json.dump(res, open(out, "w"), indent=2)
    print(f"{'tokenizer':30} {'youzhi MB/s':>12} {'tokenizers MB/s':>16} {'ratio':>6} {'same #tokens':>13}")
    for r in rows:
        print(f"{r['tokenizer']:30} {r['youzhi_mb_per_s']:12.2f} {r['tokenizers_mb_per_s']:16.2f} "
              f"{r['ratio']:6.2f} {str(r['same_tokens']):>13}")


if __name__ == "__main__":
    main()
