"""python3-jinja2's side of bench_chat_template: the same template and conversation, rendered
in transformers' environment (built by tools/make_chat_template_goldens.py, so both benches
and the parity goldens share one definition), compiled once and rendered repeatedly.
Prints one JSON object: microseconds per render and per compile, versions, and the output.

    /usr/bin/python3 bench/chat_template_jinja2.py TEMPLATE_DIR CONVERSATION.json
"""
import json
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tools"))
import jinja2  # noqa: E402
from make_chat_template_goldens import load_template, make_env  # noqa: E402


def best_us(fn, reps, min_seconds=0.5):
    """Best of `reps` timings of `fn`, each repeated until it runs for `min_seconds`."""
    best = float("inf")
    for _ in range(reps):
        n, t0 = 0, time.perf_counter()
        while True:
            fn()
            n += 1
            dt = time.perf_counter() - t0
            if dt >= min_seconds:
                break
        best = min(best, dt / n * 1e6)
    return best


def main():
    template_dir, conversation = sys.argv[1], sys.argv[2]
    source, tokens = load_template(os.path.relpath(template_dir, os.path.join(ROOT, "tests", "data", "templates")))
    conv = json.load(open(conversation, encoding="utf-8"))
    env = make_env()
    template = env.from_string(source)
    context = {"messages": conv["messages"], "tools": conv.get("tools"), "documents": None,
               "add_generation_prompt": True, **tokens}
    output = template.render(**context)
    render_us = best_us(lambda: template.render(**context), reps=5)
    compile_us = best_us(lambda: make_env().from_string(source), reps=3)
    print(json.dumps({"impl": "python3-jinja2", "jinja2": jinja2.__version__,
                      "python": sys.version.split()[0], "render_us": render_us,
                      "compile_us": compile_us, "output": output}, ensure_ascii=False))


if __name__ == "__main__":
    main()
