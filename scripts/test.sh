#!/usr/bin/env bash
# Builds (through setup.sh) and runs the whole CPU test suite with ctest. Tests labelled `gpu`
# report as skipped on machines without a CUDA device. Exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
ctest --test-dir build --output-on-failure -j"$(nproc)" --timeout 600
