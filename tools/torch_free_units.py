"""Prints the C++ sources (.cc under src/, apps/, tests/, bench/) that reach no libtorch header
through their project includes, one absolute path a line. CMake runs it when it configures: those
units skip the precompiled <torch/torch.h>, which costs GCC about 12 s more on a torch-free unit
than it saves (apps/cmd_info.cc: 23.6 s with it, 11.3 s without; 2026-11-30, 2 cores, -O3).

Includes are followed the way the build resolves them: "layer/x.h" from src/, "apps/x.h" from the
repository root, test_util.h from tests/common/, anything else next to the including file. A
system header other than torch's (<gtest/...>, <nlohmann/...>) never includes torch."""
import os
import re
import sys

from check_layers import TORCH_INCLUDE  # one rule for "a torch header" in both tools

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SEARCH = [os.path.join(ROOT, "src"), ROOT, os.path.join(ROOT, "tests", "common")]
QUOTED = re.compile(r'^\s*#\s*include\s+"([^"]+)"')


def resolve(name, including):
    for base in [os.path.dirname(including)] + SEARCH:
        path = os.path.join(base, name)
        if os.path.isfile(path):
            return os.path.normpath(path)
    return None  # a generated or system header: not ours to follow


def reaches_torch(path, memo, visiting):
    if path in memo:
        return memo[path]
    if path in visiting:  # an include cycle (guarded by #pragma once): decided by the other files
        return False
    visiting.add(path)
    found = False
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            if TORCH_INCLUDE.match(line):
                found = True
                break
            m = QUOTED.match(line)
            if m:
                dep = resolve(m.group(1), path)
                if dep and reaches_torch(dep, memo, visiting):
                    found = True
                    break
    visiting.discard(path)
    memo[path] = found
    return found


def main():
    memo = {}
    for top in ("src", "apps", "tests", "bench"):
        for dirpath, _, files in os.walk(os.path.join(ROOT, top)):
            if os.path.relpath(dirpath, ROOT).startswith(os.path.join("tests", "data")):
                continue
            for f in sorted(files):
                path = os.path.join(dirpath, f)
                if f.endswith(".cc") and not reaches_torch(path, memo, set()):
                    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
