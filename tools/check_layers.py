"""Checks the layer rules of ARCHITECTURE.md on the sources: each folder under src/ may include
only the layers below it, and no source file passes 800 lines (style.md). Run by ctest."""
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# layer -> layers it may include (besides itself)
ALLOWED = {
    "util": set(),
    "tokenizer": {"util"},
    "template": {"util"},
    "kernels": {"util"},
    "model": {"kernels", "util"},
    "convert": {"eval", "model", "kernels", "tokenizer", "util"},
    "eval": {"model", "kernels", "tokenizer", "util"},
    "train": {"model", "kernels", "tokenizer", "template", "util", "eval"},
    "serve": {"model", "kernels", "tokenizer", "template", "util"},
    "pipeline": {"util"},
}
MAX_LINES = 800
INCLUDE = re.compile(r'^\s*#\s*include\s+"([a-z_]+)/')
# Files that must stay torch-free (ARCHITECTURE.md: scheduler, allocator and template code).
TORCH_FREE = ("src/serve/block_pool", "src/serve/kv_cache_manager", "src/serve/scheduler",
              "src/serve/request", "src/kernels/cpu/", "src/model/sampling_params",
              # the HTTP front end and the online benchmark reach the engine through EngineCore
              "src/serve/engine_api", "src/serve/async_engine", "src/serve/metrics",
              "src/serve/openai_protocol", "src/serve/stop_strings", "src/serve/output_text",
              "src/serve/http_server", "src/serve/openai_generate", "src/serve/sse",
              "src/serve/bench_serve", "src/pipeline/")
TORCH_INCLUDE = re.compile(r'^\s*#\s*include\s+[<"](torch|ATen|c10)/')


def main():
    problems = []
    for dirpath, _, files in os.walk(ROOT):
        rel = os.path.relpath(dirpath, ROOT)
        if rel.startswith(("build", ".git", ".gpu", "models", "tests" + os.sep + "data")):
            continue
        for f in files:
            if not f.endswith((".h", ".cc", ".cu", ".cuh", ".py", ".sh")):
                continue
            path = os.path.join(dirpath, f)
            lines = open(path, encoding="utf-8", errors="replace").read().splitlines()
            if len(lines) > MAX_LINES:
                problems.append(f"{os.path.relpath(path, ROOT)}: {len(lines)} lines (max {MAX_LINES})")
            relpath = os.path.relpath(path, ROOT)
            if relpath.startswith(TORCH_FREE):
                for n, line in enumerate(lines, 1):
                    if TORCH_INCLUDE.match(line):
                        problems.append(f"{relpath}:{n}: must stay torch-free")
            parts = rel.split(os.sep)
            if parts[0] != "src" or len(parts) < 2:
                continue
            layer = parts[1]
            for n, line in enumerate(lines, 1):
                m = INCLUDE.match(line)
                if m and m.group(1) != layer and m.group(1) not in ALLOWED.get(layer, set()):
                    problems.append(f"src/{layer}/{f}:{n}: {layer} may not include {m.group(1)}/")
    for p in problems:
        print(p)
    print(f"{0 if problems else 1} passed, {1 if problems else 0} failed")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
