#!/usr/bin/env bash
# One batch of GPU-machine work (device tool; carry .gpu from tools/gpu_bundle.sh). Stages, in
# the order given (default: all): build (CUDA build against PyTorch's libtorch), tests (whole
# suite incl. the `gpu` label), gputests (only the CUDA tests), goldens (tokenizer goldens from `tokenizers`), tokbench
# (tokenizer benchmark), decbench (decoder benchmark vs transformers), stock (converted `stock`
# checkpoints load in transformers with our logits), convert7b (a Qwen2.5-7B-shaped random
# checkpoint converted on the GPU: time and peak memory), benchconv (`youzhi bench convert` on
# yz-qwen2-gqa-16m at budgets 0.5 and 0.333, 3 seeds; the README's adaptive table), plan7b
# (cost of adaptive fold and budget plans on the 7B shape; PLAN7B_MODES picks), attnbench (paged
# attention kernel bandwidth), serve7b (the serving engine on Qwen2.5-7B shapes: GQA vs uniform MLA
# vs a third-of-the-cache adaptive plan, bench throughput at equal GPU memory, batch-1 decode vs
# transformers), servebench (the same three models behind `youzhi serve`, loaded by `youzhi
# bench serve` at rates 1, 4, 16, inf and at the logged maximum concurrency, then a soak of the
# MLA model; bench/run_serve_online.sh, SERVE_* variables). At most 8 files return.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/yz_out}; mkdir -p "$OUT"
STAGES=${*:-build goldens tests tokbench decbench}
P=$PWD/.gpu/prefix
TP=$(python3 -c 'import torch;print(torch.utils.cmake_prefix_path)')
export LD_LIBRARY_PATH=$P/lib:${LD_LIBRARY_PATH:-}
# OpenSSL 3 (needed by cpp-httplib) only where the machine has none of its own.
ldconfig -p | grep -q 'libssl.so.3 ' || export LD_LIBRARY_PATH=$P/lib-ssl:$LD_LIBRARY_PATH
xz -dkf .gpu/data/qwen3_tokenizer.json.xz
# Tests read ../shared; give them the carried copies under the same layout.
mkdir -p ../shared/data/tokenizers ../shared/data/models/stories260K ../shared/data/eval_general
cp .gpu/data/qwen3_tokenizer.json.xz ../shared/data/tokenizers/
[ -f .gpu/data/wikitext2_raw_test.txt ] && cp .gpu/data/wikitext2_raw_test.txt ../shared/data/eval_general/
cp .gpu/data/stories260K.bin .gpu/data/tok512.model ../shared/data/models/stories260K/

# Random Qwen2.5-7B-shaped checkpoints (kept in /tmp across stages): GQA, uniform MLA (r 512,
# d_r 64) and a heterogeneous plan at a third of the GQA cache: r + d_r per layer cycles through
# 576, 288, 352, 256, 320, 384, 224 (mean 343 of 1024 elements).
make_serve7b_models() {
  local TOK=.gpu/data/qwen3_tokenizer.json CFG=tests/data/configs/qwen2.5-7b.json
  [ -f /tmp/q7b/config.json ] || python3 tools/make_random_checkpoint.py $CFG /tmp/q7b $TOK &
  [ -f /tmp/q7b_mla/config.json ] || python3 tools/make_random_mla_checkpoint.py $CFG /tmp/q7b_mla --ranks 512 --rope-dims 64 --tokenizer $TOK &
  local R=512,256,320,192,256,320,192 D=64,32,32,64,64,64,32
  [ -f /tmp/q7b_third/config.json ] || python3 tools/make_random_mla_checkpoint.py $CFG /tmp/q7b_third \
    --ranks $R,$R,$R,$R --rope-dims $D,$D,$D,$D --tokenizer $TOK &
  wait
}

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
gputests)
  ctest --test-dir build-cuda --output-on-failure -R "Cuda|cuda|CUDA" > "$OUT/ctest_gpu.log" 2>&1
  grep -E "tests passed|tests failed|\(Failed\)|Test +#" "$OUT/ctest_gpu.log" | sed -E 's/ +\.+ +/ /' | head -40
  build-cuda/tests/engine_test --gtest_filter='EngineCuda.*' | grep -E "identical positions" ;;
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
stock)
  xz -dc .gpu/data/pretrain_10mb.txt.xz | head -c 3000000 > /tmp/calib3mb.txt
  [ -d /tmp/stories260k ] || build-cuda/youzhi import-llama2c .gpu/data/stories260K.bin .gpu/data/tok512.model --out /tmp/stories260k
  C="--calib /tmp/calib3mb.txt --calib-samples 32 --calib-len 256 --overwrite --json"
  M=models/yz-qwen2-gqa-16m
  build-cuda/youzhi convert --model $M --out /tmp/yz_stock --target stock --rope-dim 32 --kv-lora-rank 96 --freqfold 2 $C > /dev/null &&
  build-cuda/youzhi convert --model $M --out /tmp/yz_stock_q --target stock --q-lora-rank 192 --rope-dim 32 --kv-lora-rank 96 --freqfold 4 $C > /dev/null &&
  build-cuda/youzhi convert --model /tmp/stories260k --out /tmp/stories_stock --target stock $C > /dev/null &&
  build-cuda/youzhi convert --model /tmp/stories260k --out /tmp/stories_stock_q --target stock --q-lora-rank 32 --freqfold 2 $C > /dev/null || echo "stock conversion FAILED"
  python3 tools/check_stock_export.py build-cuda/youzhi /tmp/yz_stock /tmp/yz_stock_q /tmp/stories_stock /tmp/stories_stock_q 2>&1 | grep -v Warning | tee "$OUT/stock_check.txt" ;;
benchconv)
  for f in calib_2m select_1m wiki400k_lf sec400k; do xz -dkf .gpu/data/$f.txt.xz; done
  D=.gpu/data
  for b in ${BENCH_BUDGETS:-0.5:half 0.333:third}; do
    build-cuda/youzhi bench convert --model models/yz-qwen2-gqa-16m --kv-budget ${b%%:*} \
      --calib $D/calib_2m.txt --select $D/select_1m.txt --eval-file $D/wiki400k_lf.txt \
      --eval-file $D/sec400k.txt --seeds 3 --calib-samples 128 --calib-len 256 \
      --select-samples 16 --select-len 1024 --eval-ctx 1024 --eval-chunks 32 --device cuda \
      --out "$OUT/bench_convert_${b#*:}${BENCH_TAG:-}.json" --overwrite 2> /tmp/bench_${b#*:}.err | tail -9
  done ;;
plan7b)
  [ -f /tmp/q7b/config.json ] || python3 tools/make_random_checkpoint.py tests/data/configs/qwen2.5-7b.json /tmp/q7b .gpu/data/qwen3_tokenizer.json
  xz -dc .gpu/data/pretrain_10mb.txt.xz > /tmp/calib10.txt
  for mode in ${PLAN7B_MODES:-fold budget}; do
    build-cuda/youzhi convert --model /tmp/q7b --out /tmp/q7b_$mode --overwrite --device cuda --adaptive $mode \
      --plan-dtype bfloat16 --kv-budget 0.5625 --calib /tmp/calib10.txt --calib-samples 16 --calib-len 2048 \
      --select-samples 2 --select-len 2048 --report "$OUT/plan7b_$mode.json" > /dev/null 2> /tmp/plan7b_$mode.err || tail -5 /tmp/plan7b_$mode.err
    python3 -c "import json; r=json.load(open('$OUT/plan7b_$mode.json')); a=r['adaptive']; print('$mode', a['cost'], a['phase_s'], 'plan s', a['wall_s'], 'convert s', r['phases']['convert']['wall_s'])"
  done ;;
convert7b)
  [ -f /tmp/q7b/config.json ] || python3 tools/make_random_checkpoint.py tests/data/configs/qwen2.5-7b.json /tmp/q7b .gpu/data/qwen3_tokenizer.json
  xz -dc .gpu/data/pretrain_10mb.txt.xz > /tmp/calib10.txt
  du -sb /tmp/q7b | tee "$OUT/q7b_size.txt"
  TIME=""; command -v /usr/bin/time > /dev/null && TIME="/usr/bin/time -v"
  $TIME build-cuda/youzhi convert --model /tmp/q7b --out /tmp/q7b_mla --device cuda --rope-dim 64 \
    --kv-lora-rank 512 --freqfold 4 --calib /tmp/calib10.txt --calib-samples 128 --calib-len 2048 \
    --report "$OUT/convert7b.json" > "$OUT/convert7b.log" 2> "$OUT/convert7b.err"
  echo "rc $?"; tail -5 "$OUT/convert7b.log"; grep -E "Maximum resident|Elapsed" "$OUT/convert7b.err"
  build-cuda/youzhi info /tmp/q7b_mla | tail -4 ;;
attnbench)
  build-cuda/bench/bench_attention "$OUT/attention.json" | tee /tmp/attnbench.txt | tail -60 ;;
serve7b)
  make_serve7b_models
  U=${SERVE_UTIL:-0.3}; IN=${SERVE_IN:-512}; OUTL=${SERVE_OUT:-256}; N=${SERVE_N:-1800}
  for m in q7b q7b_mla q7b_third; do
    timeout ${SERVE_TIMEOUT:-200} build-cuda/youzhi bench throughput /tmp/$m --device cuda --input-len $IN --output-len $OUTL \
      --num-prompts $N --gpu-memory-utilization $U --json --out "$OUT/throughput_$m.json" > /tmp/tp_$m.log 2>&1 \
      || { echo "throughput $m FAILED"; tail -5 /tmp/tp_$m.log; }
  done
  build-cuda/youzhi bench throughput /tmp/q7b_mla --device cuda --input-len 128 --output-len 256 \
    --num-prompts 1 --json --out /tmp/b1_mla.json > /dev/null 2>&1
  build-cuda/youzhi bench throughput /tmp/q7b --device cuda --input-len 128 --output-len 256 \
    --num-prompts 1 --json --out /tmp/b1_gqa.json > /dev/null 2>&1
  python3 bench/decoder_hf.py /tmp/q7b cuda bfloat16 1 128 64 /tmp/b1_hf.json
  python3 bench/combine_serve_bench.py "$OUT" /tmp/b1_gqa.json /tmp/b1_mla.json /tmp/b1_hf.json ;;
servebench)
  make_serve7b_models
  # serve7b's bench throughput results (same lengths) let the table compare rate inf with them.
  rm -rf /tmp/serve_online && mkdir -p /tmp/serve_online && cp "$OUT"/throughput_*.json /tmp/serve_online/ 2>/dev/null
  YZ=build-cuda/youzhi SERVE_DEVICE=cuda bash bench/run_serve_online.sh /tmp/serve_online /tmp/q7b /tmp/q7b_mla /tmp/q7b_third \
    | tee /tmp/serve_online/summary.txt
  cp /tmp/serve_online/serve_online.json /tmp/serve_online/summary.txt "$OUT/"
  tar czf "$OUT/serve_online_runs.tar.gz" -C /tmp serve_online ;;
esac
done
