#!/usr/bin/env bash
# Online serving benchmark (issue 15 goals): each model is served alone by `youzhi serve` and
# loaded by `youzhi bench serve` (random prompts of IN tokens, OUT tokens each with ignore_eos):
# Poisson arrivals at every rate in RATES (a finite rate sends RATE_S seconds of requests; inf
# sends SERVE_INF_N, else SERVE_N, else CONC requests at once) and a closed loop at
# --max-concurrency CONC, CONC being the server's logged "Maximum concurrency" (2 x CONC requests). Goodput is measured under the same
# SLOs for every model. Then a soak: the SOAK_MODEL held at its maximum concurrency for SOAK_S
# seconds of back-to-back rounds while host RSS and GPU memory are sampled (SERVE_RATES="" and
# SERVE_CONC_RUN=0 leave only the soak). Last, a table
# (bench/combine_serve_online.py) and OUT_DIR/serve_online.json.
# Usage: bench/run_serve_online.sh OUT_DIR MODEL_DIR...   (settings from the environment below)
# tools/gpu_run.sh servebench runs it on the 7B shapes; on a CPU it runs as is with small models.
set -uo pipefail
OUT_DIR=$1; shift
YZ=${YZ:-build/youzhi}
DEVICE=${SERVE_DEVICE:-cuda}
UTIL=${SERVE_UTIL:-0.3}              # --gpu-memory-utilization (CUDA)
KV_GIB=${SERVE_KV_GIB:-}              # --kv-cache-memory (CPU)
IN=${SERVE_IN:-512}
OUTL=${SERVE_OUT:-256}
RATES=${SERVE_RATES-1 4 16 inf}       # empty: no rate runs (e.g. a soak alone)
RATE_S=${SERVE_RATE_S:-6}
SLO=${SERVE_SLO:-ttft:2000 tpot:100}
SOAK_MODEL=${SERVE_SOAK_MODEL:-q7b_mla}  # which model (directory name) gets the soak; none: no soak
SOAK_S=${SERVE_SOAK_S:-90}
# --max-num-seqs: as many as `bench throughput` runs with (one per prompt, SERVE_N), so the startup
# profile reserves the same logits rows and both KV pools get the same memory (with 4096 the GQA
# server's pool was 9% smaller than bench throughput's, 2026-11-30).
MAX_SEQS=${SERVE_MAX_SEQS:-${SERVE_N:-4096}}
mkdir -p "$OUT_DIR"
log() { echo "== $*"; }

for dir in "$@"; do
  m=$(basename "$dir")
  args=(serve "$dir" --device "$DEVICE" --port 0 --max-model-len $((IN + OUTL)) --max-num-seqs "$MAX_SEQS"
        --max-waiting 8192 --gpu-memory-utilization "$UTIL" --shutdown-grace 10)
  [ -n "$KV_GIB" ] && args+=(--kv-cache-memory "$KV_GIB")
  t0=$(date +%s)
  "$YZ" "${args[@]}" > "$OUT_DIR/server_$m.log" 2>&1 &
  pid=$!
  for _ in $(seq 1800); do grep -q '^Serving ' "$OUT_DIR/server_$m.log" && break; kill -0 $pid 2>/dev/null || break; sleep 0.2; done
  if ! grep -q '^Serving ' "$OUT_DIR/server_$m.log"; then
    log "$m: server did not start"; tail -5 "$OUT_DIR/server_$m.log"; kill $pid 2>/dev/null; continue
  fi
  port=$(sed -n 's#^Listening on http://[^:]*:\([0-9]*\).*#\1#p' "$OUT_DIR/server_$m.log")
  conc=$(sed -n 's/^Maximum concurrency for [0-9,]* tokens per request: \([0-9.]*\)x.*/\1/p' "$OUT_DIR/server_$m.log" | cut -d. -f1)
  conc=$(( conc < 1 ? 1 : (conc > MAX_SEQS ? MAX_SEQS : conc) ))
  log "$m: loaded in $(( $(date +%s) - t0 )) s; $(grep -E 'KV cache size' "$OUT_DIR/server_$m.log"); max concurrency $conc"
  bench() {  # bench NAME ARGS...
    local name=$1; shift
    "$YZ" bench serve --base-url "http://127.0.0.1:$port" --dataset random --input-len "$IN" --output-len "$OUTL" \
      --ignore-eos --goodput $SLO --json --overwrite --out "$OUT_DIR/serve_${m}_$name.json" "$@" > /dev/null \
      2> "$OUT_DIR/bench_${m}_$name.err" || { log "$m $name FAILED"; tail -3 "$OUT_DIR/bench_${m}_$name.err"; }
  }
  for r in $RATES; do
    # inf: the same number of prompts as `bench throughput` (serve7b stage, SERVE_N), so the two
    # output rates compare like for like (with only CONC prompts the ramp and tail dominate).
    if [ "$r" == inf ]; then n=${SERVE_INF_N:-${SERVE_N:-$conc}}; else n=$(python3 -c "import math; print(max(1, math.ceil($r * $RATE_S)))"); fi
    bench "rate$r" --request-rate "$r" --num-prompts "$n"
  done
  [ "${SERVE_CONC_RUN:-1}" == 1 ] && bench "conc$conc" --max-concurrency "$conc" --num-prompts $((2 * conc))

  if [ "$m" == "$SOAK_MODEL" ]; then
    log "$m: soak at $conc concurrent requests for $SOAK_S s"
    echo "t_s,rss_bytes,gpu_mib" > "$OUT_DIR/soak_${m}_memory.csv"
    ( s0=$(date +%s)
      while kill -0 $pid 2>/dev/null; do
        rss=$(awk '/^VmRSS/ {print $2 * 1024}' /proc/$pid/status 2>/dev/null)
        gpu=$(nvidia-smi --query-compute-apps=pid,used_memory --format=csv,noheader,nounits 2>/dev/null |
              awk -F', ' -v p=$pid '$1 == p {print $2}')
        echo "$(( $(date +%s) - s0 )),${rss:-0},${gpu:-0}" >> "$OUT_DIR/soak_${m}_memory.csv"
        sleep 5
      done ) &
    sampler=$!
    end=$(( $(date +%s) + SOAK_S )); round=0
    while [ "$(date +%s)" -lt $end ]; do
      round=$((round + 1))
      bench "soak$(printf %03d $round)" --max-concurrency "$conc" --num-prompts $((2 * conc)) --seed $round
    done
    kill $sampler 2>/dev/null; wait $sampler 2>/dev/null
  fi

  kill -TERM $pid
  wait $pid
  rc=$?
  log "$m: SIGTERM exit $rc"
  echo "$rc" > "$OUT_DIR/server_${m}_exit.txt"
done
python3 "$(dirname "$0")/combine_serve_online.py" "$OUT_DIR" "$SLO" "$@"
