#!/usr/bin/env bash
# One batch of GPU-machine work (device tool; carry .gpu from tools/gpu_bundle.sh). Stages, in
# the order given (default: all): build (CUDA build against PyTorch's libtorch), tests (whole
# suite incl. the `gpu` label), gputests (only the CUDA tests), goldens (tokenizer goldens from `tokenizers`), tokbench
# (tokenizer benchmark), decbench (decoder benchmark vs transformers), stock (converted `stock`
# checkpoints load in transformers with our logits), convert7b (a Qwen2.5-7B-shaped random
# checkpoint converted on the GPU: time and peak memory; CONVERT7B_ARGS adds options, e.g. issue
# 17's fits), benchconv (`youzhi bench convert` on
# yz-qwen2-gqa-16m at budgets 0.5 and 0.333, 3 seeds; the README's adaptive table), plan7b
# (cost of adaptive fold and budget plans on the 7B shape; PLAN7B_MODES picks), trainbench (one
# GKD step on a Qwen2.5-7B-shaped teacher and its MLA student, ours vs transformers + TRL's loss),
# heal (the bundled model at a third of the KV cache healed with CE and GKD at several token
# budgets; bench/run_heal.sh), dp2 (nvidia-h200-x2 only: data-parallel distillation on 2 GPUs
# against 1, a killed worker and --resume; bench/run_dp2.sh), attnbench (paged
# attention kernel bandwidth), serve7b (the serving engine on Qwen2.5-7B shapes: GQA vs uniform MLA
# vs a third-of-the-cache adaptive plan, bench throughput at equal GPU memory, batch-1 decode vs
# transformers), evalgold (`youzhi eval` log-likelihood goldens from transformers:
# tests/data/eval/loglik_goldens.json), evalbench (`youzhi eval` vs transformers requests/s,
# bench/run_eval_bench.sh), trainbench / heal / dp2 (training throughput, healing table, 2-GPU
# data parallel), convq (issue 17: conversion methods on the §13 protocol, bench convert with them
# at half and a third of the cache, a padded stock budget plan in transformers, 7B-shape fit time
# per layer; one archive, convq.tar.gz).
# servebench (the same three models behind `youzhi serve`, loaded by `youzhi
# bench serve` at rates 1, 4, 16, inf and at the logged maximum concurrency, then a soak of the
# MLA model; bench/run_serve_online.sh, SERVE_* variables), models (only the three random
# 7B-shaped checkpoints, e.g. in the background on another GPU), throughput (serve7b's
# bench throughput part alone, SERVE_MODELS picks), pipeline (`youzhi pipeline` on the
# committed recipes recipes/yz-qwen2-16m-{third,half}.json: fin-sft data, SFT of the original,
# uniform and adaptive conversions, GKD heal, SFT of the healed model, eval of all six;
# PIPELINE_RECIPES picks; a run resumes in /tmp/yz_pipeline_* when called again on the same
# machine). At most 8 files return.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/yz_out}; mkdir -p "$OUT"
# Several gpu_run.sh side by side (one per GPU, or two pipelines on one): each libtorch process
# otherwise starts one OpenMP thread per core, and three of them on 32 cores made the CPU-bound
# parts (the float64 factorization of a 7B conversion, the attention test's float64 reference,
# the adaptive planner) 8-15x slower (2026-11-30). GPU_JOBS=N gives each one nproc/N threads.
[ -n "${GPU_JOBS:-}" ] && export OMP_NUM_THREADS=${OMP_NUM_THREADS:-$(( $(nproc) / GPU_JOBS ))}
STAGES=${*:-build goldens tests tokbench decbench}
# Prompts per `bench throughput` run; servebench's rate inf sends as many, so they compare.
export SERVE_N=${SERVE_N:-1800}
P=$PWD/.gpu/prefix
TP=$(python3 -c 'import torch;print(torch.utils.cmake_prefix_path)')
export LD_LIBRARY_PATH=$P/lib:${LD_LIBRARY_PATH:-}
# OpenSSL 3 (needed by cpp-httplib) only where the machine has none of its own.
ldconfig -p | grep -q 'libssl.so.3 ' || export LD_LIBRARY_PATH=$P/lib-ssl:$LD_LIBRARY_PATH
# Unpacking the carried .gpu, once per call (several gpu_run.sh may start side by side, one per GPU).
prepare() {
  [ -f .gpu/.ready ] && return
  [ -d .gpu/prefix ] || tar -C .gpu -xJf .gpu/prefix.tar.xz
  xz -dkf .gpu/data/qwen3_tokenizer.json.xz
  # (xz stops on SIGPIPE once head has its bytes)
  [ -f .gpu/data/pretrain_10mb.txt.xz ] || { xz -dc .gpu/data/pretrain.txt.xz || true; } | head -c 10500000 | xz -1 > .gpu/data/pretrain_10mb.txt.xz
  # Tests read ../shared; give them the carried copies under the same layout.
  mkdir -p ../shared/data/tokenizers ../shared/data/models/stories260K ../shared/data/eval_general
  cp .gpu/data/qwen3_tokenizer.json.xz ../shared/data/tokenizers/
  [ -f .gpu/data/wikitext2_raw_test.txt ] && cp .gpu/data/wikitext2_raw_test.txt ../shared/data/eval_general/
  [ -f .gpu/data/stories260K.bin ] && cp .gpu/data/stories260K.bin .gpu/data/tok512.model ../shared/data/models/stories260K/
  [ -f .gpu/data/eval_data.tar.xz ] && tar -C ../shared/data -xJf .gpu/data/eval_data.tar.xz
  # The pipeline's distillation corpus and held-out SEC perplexity text, where its recipes look.
  mkdir -p ../shared/data/corpus
  for f in pretrain.txt.xz fin_heldout_sec.txt.xz; do
    [ -f .gpu/data/$f ] && ln -sf "$PWD/.gpu/data/$f" ../shared/data/corpus/$f
  done
  touch .gpu/.ready
}
exec 9> .gpu/.lock && flock 9 && prepare && flock -u 9

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
  # NCCL's header ships in the nvidia-nccl wheel next to PyTorch (data-parallel training).
  NCCL_INC=$(python3 -c 'import nvidia.nccl, os; print(os.path.join(list(nvidia.nccl.__path__)[0], "include"))' 2>/dev/null || true)
  cmake -S . -B build-cuda -G Ninja -DCMAKE_BUILD_TYPE=Release -DYZ_WITH_CUDA=ON \
    -DCMAKE_PREFIX_PATH="$TP;$P" -DYZ_GTEST_SOURCE_DIR=$P/googletest -DYZ_BUILD_FUZZ=OFF ${GPU_CMAKE_ARGS:-} \
    -DYZ_NCCL_INCLUDE_DIR="$NCCL_INC" \
    > /tmp/cmake.log 2>&1 || { cp /tmp/cmake.log "$OUT/"; tail -30 /tmp/cmake.log; exit 1; }
  # GPU_BUILD_TARGETS (e.g. youzhi: 111 s on 16 cores) builds only those.
  cmake --build build-cuda -j$(nproc) ${GPU_BUILD_TARGETS:+--target $GPU_BUILD_TARGETS} > /tmp/build.log 2>&1 || { cp /tmp/build.log "$OUT/"; grep -E "error" -A5 /tmp/build.log | head -60; exit 1; }
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
convq)
  # Issue 17 (README "Conversion quality at low budgets"). CONVQ_STEPS local steps (300),
  # CONVQ_SEEDS (3), CONVQ_PARTS picks sections: u13 bench stock 7b (default all; `7b` alone is
  # the 7B-shape fit cost, about 3 minutes with the build cached).
  [ -x build-cuda/youzhi ] || { cmake -S . -B build-cuda -G Ninja -DCMAKE_BUILD_TYPE=Release -DYZ_WITH_CUDA=ON \
    -DCMAKE_PREFIX_PATH="$TP;$P" -DYZ_GTEST_SOURCE_DIR=$P/googletest -DYZ_BUILD_FUZZ=OFF ${GPU_CMAKE_ARGS:-} > /tmp/cmake.log 2>&1 &&
    cmake --build build-cuda -j16 --target youzhi > /tmp/build.log 2>&1 || { tail -30 /tmp/build.log; exit 1; }; }
  for f in calib_2m select_1m wiki400k_lf sec400k; do xz -dkf .gpu/data/$f.txt.xz; done
  D=.gpu/data; Q=/tmp/convq; mkdir -p $Q; STEPS=${CONVQ_STEPS:-300}; M=models/yz-qwen2-gqa-16m
  PROTO="--calib $D/calib_2m.txt --calib-samples 128 --calib-len 256 --eval-file $D/wiki400k_lf.txt --eval-file $D/sec400k.txt --eval-ctx 1024 --eval-chunks 32 --device cuda"
  PARTS=${CONVQ_PARTS:-u13 bench stock 7b}
  if [[ " $PARTS " == *" u13 "* ]]; then
    # §13.1 / §13.2 and past them: uniform f = 2, d_r = 32, every method, a third and half of the cache.
    for rank in 53 96; do
      for m in "bkv|" "whitened|--factorization whitened" "refit|--factorization whitened --refit" \
               "local|--factorization whitened --refit --local-steps $STEPS" \
               "local_converted|--factorization whitened --refit --local-steps $STEPS --fit-inputs converted" \
               "local_only|--factorization whitened --local-steps $STEPS"; do
        # At half the cache only the main rows (the §13.2 comparison); every variant at a third.
        [ $rank = 96 ] && [[ ${m%%|*} == local_* ]] && continue
        SECONDS=0
        build-cuda/youzhi convert --model $M --out $Q/m --overwrite --rope-dim 32 --kv-lora-rank $rank --freqfold 2 \
          $PROTO --report $Q/u13_r${rank}_${m%%|*}.json --json ${m#*|} > /dev/null 2>> $Q/u13.err || echo "FAILED r$rank ${m%%|*}"
        echo "u13 r$rank ${m%%|*}: ${SECONDS}s"
      done
    done
    python3 - $Q <<'PY'
import glob, json, sys
for f in sorted(glob.glob(f"{sys.argv[1]}/u13_*.json")):
    r = json.load(open(f)); p = r["ppl"]
    fit = [l.get("fit", {}) for l in r["layers"]]
    sec = sum(x.get("local", {}).get("seconds", 0) + x.get("refit", {}).get("seconds", 0) for x in fit)
    print(f.split("/")[-1][4:-5].ljust(22), "wiki %.1f  sec %.2f" % tuple(p["final"][k] for k in ("wiki400k_lf.txt", "sec400k.txt")),
          " partial_rope %.1f / %.2f" % tuple(p["partial_rope"][k] for k in ("wiki400k_lf.txt", "sec400k.txt")),
          " fit s %.1f  convert s %.1f" % (sec, r["phases"]["convert"]["wall_s"]))
PY
  fi
  if [[ " $PARTS " == *" bench "* ]]; then
    for b in 0.5:half 0.333:third; do
      SECONDS=0
      build-cuda/youzhi bench convert --model $M --kv-budget ${b%%:*} --calib $D/calib_2m.txt \
        --select $D/select_1m.txt --eval-file $D/wiki400k_lf.txt --eval-file $D/sec400k.txt \
        --seeds ${CONVQ_SEEDS:-3} --calib-samples 128 --calib-len 256 --select-samples 16 --select-len 1024 \
        --eval-ctx 1024 --eval-chunks 32 --device cuda --factorization whitened --refit \
        --local-steps $STEPS --plan-local-steps 0 --out $Q/bench_convert_${b#*:}_fit.json --overwrite \
        2> $Q/bench_${b#*:}.err | tail -12
      echo "bench ${b#*:}: ${SECONDS}s"
    done
  fi
  if [[ " $PARTS " == *" stock "* ]]; then
    # A budget plan (per-layer d_r, r) exported for stock runtimes: padded to the widest layer.
    build-cuda/youzhi convert --model $M --out $Q/stock_budget --overwrite --adaptive budget --kv-budget 0.333 \
      --target stock --factorization whitened --refit --calib $D/calib_2m.txt --calib-samples 64 \
      --select-samples 8 --select-len 1024 --eval-file $D/sec400k.txt --eval-chunks 8 --device cuda \
      --report $Q/stock_budget.json > $Q/stock_budget.log 2>&1 || tail -5 $Q/stock_budget.log
    grep -E "KV cache|padding" $Q/stock_budget.log
    python3 tools/check_stock_export.py build-cuda/youzhi $Q/stock_budget 2>&1 | grep -v Warning | tee $Q/stock_check.txt
    rm -rf $Q/stock_budget
  fi
  if [[ " $PARTS " == *" 7b "* ]]; then
    # Fit cost per layer at the Qwen2.5-7B shape (random bf16 weights; 4 of its 28 layers).
    python3 -c "import json; c=json.load(open('tests/data/configs/qwen2.5-7b.json')); c['num_hidden_layers']=4; json.dump(c, open('/tmp/q7b4.json','w'))"
    [ -f /tmp/q7b4/config.json ] || python3 tools/make_random_checkpoint.py /tmp/q7b4.json /tmp/q7b4 .gpu/data/qwen3_tokenizer.json
    xz -dc .gpu/data/pretrain_10mb.txt.xz > /tmp/calib10.txt
    SECONDS=0
    build-cuda/youzhi convert --model /tmp/q7b4 --out /tmp/q7b4_mla --overwrite --device cuda --rope-dim 64 \
      --kv-lora-rank 320 --freqfold 4 --calib /tmp/calib10.txt --calib-samples 128 --calib-len 2048 \
      --factorization whitened --refit --local-steps $STEPS --report $Q/fit7b_4layers.json > /dev/null 2> $Q/fit7b.err || tail -5 $Q/fit7b.err
    echo "7b-shape 4 layers: ${SECONDS}s"
    python3 -c "
import json; r=json.load(open('$Q/fit7b_4layers.json'))
for l in r['layers']: f=l['fit']; print('layer', l['layer'], 'refit s %.1f' % f['refit']['seconds'], 'local s %.1f' % f['local']['seconds'], 'err', round(f['error_factorized'],4), round(f['error_refit'],4), round(f['error_local'],4))
print('breakdown', {k: round(v,1) for k, v in r['phases']['convert']['breakdown'].items()})"
    rm -rf /tmp/q7b4_mla
  fi
  tar -C $Q --exclude=m -czf "$OUT/convq.tar.gz" . ;;
convert7b)
  [ -f /tmp/q7b/config.json ] || python3 tools/make_random_checkpoint.py tests/data/configs/qwen2.5-7b.json /tmp/q7b .gpu/data/qwen3_tokenizer.json
  xz -dc .gpu/data/pretrain_10mb.txt.xz > /tmp/calib10.txt
  du -sb /tmp/q7b | tee "$OUT/q7b_size.txt"
  TIME=""; command -v /usr/bin/time > /dev/null && TIME="/usr/bin/time -v"
  # Its own output directory: /tmp/q7b_mla is the serving stages' uniform MLA model.
  $TIME build-cuda/youzhi convert --model /tmp/q7b --out /tmp/q7b_conv --overwrite --device cuda --rope-dim 64 \
    --kv-lora-rank 512 --freqfold 4 --calib /tmp/calib10.txt --calib-samples 128 --calib-len 2048 \
    ${CONVERT7B_ARGS:-} --report "$OUT/convert7b.json" > "$OUT/convert7b.log" 2> "$OUT/convert7b.err"
  echo "rc $?"; tail -5 "$OUT/convert7b.log"; grep -E "Maximum resident|Elapsed" "$OUT/convert7b.err"
  build-cuda/youzhi info /tmp/q7b_conv | tail -4; rm -rf /tmp/q7b_conv ;;
evalgold)
  python3 tools/make_eval_goldens.py models/yz-qwen2-gqa-16m ../shared/data "$OUT/loglik_goldens.json"
  cp "$OUT/loglik_goldens.json" tests/data/eval/
  ctest --test-dir build-cuda -R "Scoring.MatchesTransformersGoldens" --output-on-failure | tail -3 ;;
evalbench)
  EVAL_BENCH_DATA=../shared/data bash bench/run_eval_bench.sh "$OUT/eval_speed.json" ;;
pipeline)
  for r in ${PIPELINE_RECIPES:-third half}; do
    W=/tmp/yz_pipeline_$r; t0=$(date +%s)
    timeout ${PIPELINE_TIMEOUT:-170} build-cuda/youzhi pipeline recipes/yz-qwen2-16m-$r.json --out $W \
      > /tmp/pipeline_$r.log 2>&1 || { echo "pipeline $r stopped (rc $?; call again to resume):"; grep -E "^==|error" /tmp/pipeline_$r.log | tail -12; }
    echo "== pipeline $r: $(( $(date +%s) - t0 )) s"
    for f in json md svg; do [ -f $W/table.$f ] && cp $W/table.$f "$OUT/pipeline_$r.$f"; done
    # Every stage's stage.json and log, finished or not (a stopped run's results are not lost).
    (cd $W && tar czf "$OUT/pipeline_${r}_stages.tar.gz" --exclude=model --exclude='*.jsonl' . 2>/dev/null)
    [ -f $W/table.md ] && cat $W/table.md
  done ;;
trainbench)
  bash bench/run_train_bench.sh "$OUT/trainbench.json" ;;
heal)
  bash bench/run_heal.sh "$OUT/heal.json" ;;
dp2)
  bash bench/run_dp2.sh "$OUT/train_dp2.json" ;;
attnbench)
  build-cuda/bench/bench_attention "$OUT/attention.json" | tee /tmp/attnbench.txt | tail -60 ;;
models)
  make_serve7b_models ;;
throughput|serve7b)
  make_serve7b_models
  U=${SERVE_UTIL:-0.3}; IN=${SERVE_IN:-512}; OUTL=${SERVE_OUT:-256}
  for m in ${SERVE_MODELS:-q7b q7b_mla q7b_third}; do
    timeout ${SERVE_TIMEOUT:-200} build-cuda/youzhi bench throughput /tmp/$m --device cuda --input-len $IN --output-len $OUTL \
      --num-prompts $SERVE_N --gpu-memory-utilization $U --json --out "$OUT/throughput_$m.json" > /tmp/tp_$m.log 2>&1 \
      || { echo "throughput $m FAILED"; tail -5 /tmp/tp_$m.log; }
  done
  [ $stage == throughput ] && continue
  build-cuda/youzhi bench throughput /tmp/q7b_mla --device cuda --input-len 128 --output-len 256 \
    --num-prompts 1 --json --out /tmp/b1_mla.json > /dev/null 2>&1
  build-cuda/youzhi bench throughput /tmp/q7b --device cuda --input-len 128 --output-len 256 \
    --num-prompts 1 --json --out /tmp/b1_gqa.json > /dev/null 2>&1
  python3 bench/decoder_hf.py /tmp/q7b cuda bfloat16 1 128 64 /tmp/b1_hf.json
  python3 bench/combine_serve_bench.py "$OUT" /tmp/b1_gqa.json /tmp/b1_mla.json /tmp/b1_hf.json ;;
servebench)
  # SERVE_DIR (default /tmp/serve_online) collects every model's runs: two servebench calls on
  # two GPUs (CUDA_VISIBLE_DEVICES) may share it. Each call's table covers its own SERVE_MODELS;
  # bench/combine_serve_online.py SERVE_DIR SLO MODEL_DIR... tables all of them.
  make_serve7b_models
  SD=${SERVE_DIR:-/tmp/serve_online}; mkdir -p $SD
  # bench throughput results (same lengths) let the table compare rate inf with them.
  cp "$OUT"/throughput_*.json $SD/ 2>/dev/null
  models=""; for m in ${SERVE_MODELS:-q7b q7b_mla q7b_third}; do models="$models /tmp/$m"; done
  YZ=build-cuda/youzhi SERVE_DEVICE=cuda bash bench/run_serve_online.sh $SD $models | tee -a $SD/summary.txt
  cp $SD/serve_online.json $SD/summary.txt "$OUT/"
  tar czf "$OUT/serve_online_runs.tar.gz" -C $(dirname $SD) $(basename $SD) ;;
esac
done
