#!/usr/bin/env bash
# One batch of GPU-machine work (device tool; carry .gpu from tools/gpu_bundle.sh):
# CUDA build against PyTorch's libtorch, tokenizer goldens from the `tokenizers` library, the
# whole test suite (gpu label included), and the tokenizer benchmark. Ends with a short table.
# At most 8 files come back: ctest.log, tokenizer_goldens.json, bench_*.json, logs on failure.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/yz_out}; mkdir -p "$OUT"
P=$PWD/.gpu/prefix
TP=$(python3 -c 'import torch;print(torch.utils.cmake_prefix_path)')
export LD_LIBRARY_PATH=$P/lib:${LD_LIBRARY_PATH:-}
xz -dkf .gpu/data/qwen3_tokenizer.json.xz
echo "== torch $(python3 -c 'import torch;print(torch.__version__, torch.version.cuda)'), $(nvcc --version | tail -1), $(g++ --version | head -1)"
cmake -S . -B build-cuda -G Ninja -DCMAKE_BUILD_TYPE=Release -DYZ_WITH_CUDA=ON \
  -DCMAKE_PREFIX_PATH="$TP;$P" -DYZ_GTEST_SOURCE_DIR=$P/googletest -DYZ_BUILD_FUZZ=OFF \
  > /tmp/cmake.log 2>&1 || { cp /tmp/cmake.log "$OUT/"; tail -30 /tmp/cmake.log; exit 1; }
cmake --build build-cuda -j16 > /tmp/build.log 2>&1 || { cp /tmp/build.log "$OUT/"; grep -E "error" -A5 /tmp/build.log | head -60; exit 1; }
echo "== build ok"
# Tests read ../shared; give them the carried copies under the same layout.
mkdir -p ../shared/data/tokenizers ../shared/data/models/stories260K
cp .gpu/data/qwen3_tokenizer.json.xz ../shared/data/tokenizers/
cp .gpu/data/stories260K.bin .gpu/data/tok512.model ../shared/data/models/stories260K/
rm -rf /tmp/stories260k
build-cuda/youzhi import-llama2c .gpu/data/stories260K.bin .gpu/data/tok512.model --out /tmp/stories260k
python3 tools/make_tokenizer_goldens.py --qwen3 .gpu/data/qwen3_tokenizer.json \
  --stories /tmp/stories260k/tokenizer.json --spm .gpu/data/tok512.model \
  --out tests/data/tokenizer_goldens.json
cp tests/data/tokenizer_goldens.json "$OUT/"
ctest --test-dir build-cuda --output-on-failure -j8 > "$OUT/ctest.log" 2>&1
grep -E "tests passed|tests failed|\(Failed\)|\(SKIPPED\)|Skipped" "$OUT/ctest.log" | head -30
grep -E "RmsNormCuda" "$OUT/ctest.log" | grep -E "Passed|Failed|Skipped" | head
if grep -q SegFault "$OUT/ctest.log"; then  # a backtrace of the first crash, for the log
  t=$(grep -m1 SegFault "$OUT/ctest.log" | sed -E 's/.*Test +#[0-9]+: ([^ ]+) .*/\1/')
  for b in build-cuda/tests/*_test; do
    "$b" --gtest_list_tests | grep -q "${t##*.}" || continue
    cuda-gdb -batch -ex run -ex bt --args "$b" --gtest_filter="$t" 2>&1 | tail -25; break
  done
fi
echo "== tokenizer benchmark (10 MB of pretrain.txt, one thread)"
for t in yz:models/yz-qwen2-gqa-16m/tokenizer.json qwen3:.gpu/data/qwen3_tokenizer.json; do
  name=${t%%:*}; file=${t#*:}
  build-cuda/bench/bench_tokenizer "$file" .gpu/data/pretrain_10mb.txt.xz 10 "/tmp/bench_tok_${name}_youzhi.json"
  python3 bench/tokenizer_hf.py "$file" .gpu/data/pretrain_10mb.txt.xz 10 "/tmp/bench_tok_${name}_hf.json"
done
python3 bench/combine_tokenizer_bench.py /tmp "$OUT/tokenizer.json"
