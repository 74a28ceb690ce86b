#!/usr/bin/env bash
# Regenerates the decoder goldens with transformers on the GPU machine (tools/make_model_goldens.py)
# and returns them as one archive: unpack into tests/data/ (tiny_models/ + yz_*golden*).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/yz_out}; mkdir -p "$OUT"
rm -rf /tmp/goldens && mkdir -p /tmp/goldens/tiny_models
PYTHONUNBUFFERED=1 python3 tools/make_model_goldens.py /tmp/goldens/tiny_models
mv /tmp/goldens/tiny_models/yz_* /tmp/goldens/
tar -C /tmp/goldens -czf "$OUT/model_goldens.tar.gz" .
du -sh /tmp/goldens "$OUT/model_goldens.tar.gz"
