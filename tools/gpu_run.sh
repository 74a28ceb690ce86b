#!/usr/bin/env bash
# One batch of GPU-machine work (device tool; carry .gpu from tools/gpu_bundle.sh). Stages, in
# the order given (default: all): build (CUDA build against PyTorch's libtorch), tests (whole
# suite incl. the `gpu` label), goldens (tokenizer goldens from `tokenizers`), tokbench
# (tokenizer benchmark), decbench (decoder benchmark vs transformers). At most 8 files return.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/yz_out}; mkdir -p "$OUT"
STAGES=${*:-build goldens tests tokbench decbench}
P=$PWD/.gpu/prefix
TP=$(python3 -c 'import torch;print(torch.utils.cmake_prefix_path)')
export LD_LIBRARY_PATH=$P/lib:${LD_LIBRARY_PATH:-}
xz -dkf .gpu/data/qwen3_tokenizer.json.xz
# Tests read ../shared; give them the carried copies under the same layout.
mkdir -p ../shared/data/tokenizers ../shared/data/models/stories260K
cp .gpu/data/qwen3_tokenizer.json.xz ../shared/data/tokenizers/
cp .gpu/data/stories260K.bin .gpu/data/tok512.model ../shared/data/models/stories260K/

for stage in $STAGES; do
case $stage in
build)
  echo "== torch $(python3 -c 'import torch;print(torch.__version__, torch.version.cuda)'), $(nvcc --version | tail -1), $(nvidia-smi --query-gpu=name --format=csv,noheader)"
  cmake -S . -B build-cuda -G Ninja -DCMAKE_BUILD_TYPE=Release -DYZ_WITH_CUDA=ON \
    -DCMAKE_PREFIX_PATH="$TP;$P" -DYZ_GTEST_SOURCE_DIR=$P/googletest -DYZ_BUILD_FUZZ=OFF \
    > /tmp/cmake.log 2>&1 || { cp /tmp/cmake.log "$OUT/"; tail -30 /tmp/cmake.log; exit 1; }
  cmake --build build-cuda -j16 > /tmp/build.log 2>&1 || { cp /tmp/build.log "$OUT/"; grep -E "error" -A5 /tmp/build.log | head -60; exit 1; }
  echo "== build ok" ;;
goldens)
  rm -rf /tmp/stories260k
  build-cuda/youzhi import-llama2c .gpu/data/stories260K.bin .gpu/data/tok512.model --out /tmp/stories260k
  python3 tools/make_tokenizer_goldens.py --qwen3 .gpu/data/qwen3_tokenizer.json \
    --stories /tmp/stories260k/tokenizer.json --spm .gpu/data/tok512.model \
    --out tests/data/tokenizer_goldens.json
  cp tests/data/tokenizer_goldens.json "$OUT/" ;;
tests)
  ctest --test-dir build-cuda --output-on-failure -j8 > "$OUT/ctest.log" 2>&1
  grep -E "tests passed|tests failed|\(Failed\)|Skipped" "$OUT/ctest.log" | head -30
  grep -E "Cuda" "$OUT/ctest.log" | grep -E "Test +#" | sed -E 's/ +\.+ +/ /' | head -20 ;;
tokbench)
  echo "== tokenizer benchmark (10 MB of pretrain.txt, one thread)"
  for t in yz:models/yz-qwen2-gqa-16m/tokenizer.json qwen3:.gpu/data/qwen3_tokenizer.json; do
    name=${t%%:*}; file=${t#*:}
    build-cuda/bench/bench_tokenizer "$file" .gpu/data/pretrain_10mb.txt.xz 10 "/tmp/bench_tok_${name}_youzhi.json"
    python3 bench/tokenizer_hf.py "$file" .gpu/data/pretrain_10mb.txt.xz 10 "/tmp/bench_tok_${name}_hf.json"
  done
  python3 bench/combine_tokenizer_bench.py /tmp "$OUT/tokenizer.json" ;;
decbench)
  bash bench/run_decoder_bench.sh "$OUT/decoder.json" ;;
esac
done
