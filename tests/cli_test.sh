#!/usr/bin/env bash
# The CLI contract: one "error: ..." line and exit 1 on bad input, exit 2 on usage errors,
# --json prints one JSON object, outputs are refused without --overwrite.
# Usage: cli_test.sh path/to/youzhi REPO_ROOT
set -u
YZ=$1
ROOT=$2
MODEL=$ROOT/models/yz-qwen2-gqa-16m
STORIES=$ROOT/../shared/data/models/stories260K
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
pass=0 fail=0

# expect CODE DESCRIPTION -- command...: exit code and, for errors, a single "error: " line.
expect() {
  local code=$1 what=$2; shift 3
  "$@" >"$TMP/out" 2>"$TMP/err"
  local rc=$?
  local ok=1
  [ "$rc" -eq "$code" ] || ok=0
  if [ "$code" -ne 0 ]; then
    grep -q '^error: ' "$TMP/err" || ok=0
  fi
  if [ $ok -eq 1 ]; then pass=$((pass+1)); else
    fail=$((fail+1)); echo "FAIL: $what (exit $rc, want $code)"; cat "$TMP/err" | head -3; fi
}
json_field() { python3 -c "import json,sys; print(json.load(open('$TMP/out'))$1)"; }
check() {  # check DESCRIPTION ACTUAL EXPECTED
  if [ "$2" == "$3" ]; then pass=$((pass+1)); else fail=$((fail+1)); echo "FAIL: $1: got '$2', want '$3'"; fi
}

expect 0 "help" -- "$YZ" --help
expect 2 "no subcommand" -- "$YZ"
expect 2 "unknown subcommand" -- "$YZ" frobnicate
expect 2 "unknown flag" -- "$YZ" info "$MODEL" --bogus
expect 2 "info without MODEL" -- "$YZ" info
expect 1 "info on missing dir" -- "$YZ" info "$TMP/nope"
echo '{"model_type": "gemma2"}' > "$TMP/config.json"
expect 1 "unsupported model_type" -- "$YZ" info "$TMP"
grep -q "model_type 'gemma2' is not supported" "$TMP/err" && pass=$((pass+1)) || { fail=$((fail+1)); echo "FAIL: message names the field"; }

expect 0 "info --json" -- "$YZ" info "$MODEL" --json
check "json lines" "$(wc -l < "$TMP/out")" "1"
check "kv_elements_per_token" "$(json_field "['kv_elements_per_token']")" "2048"
check "kv_bytes_per_token_bf16" "$(json_field "['kv_bytes_per_token_bf16']")" "4096"
check "num_params" "$(json_field "['num_params']")" "15740288"
check "family" "$(json_field "['family']")" "gqa"
check "checkpoint matches" "$(json_field "['checkpoint_matches_config']")" "True"
for f in qwen2.5-7b llama-3.1-8b; do
  mkdir -p "$TMP/$f" && cp "$ROOT/tests/data/configs/$f.json" "$TMP/$f/config.json"
  expect 0 "info $f (config only)" -- "$YZ" info "$TMP/$f" --json
done
check "llama-3.1-8b kv bytes" "$(json_field "['kv_bytes_per_token_bf16']")" "131072"
mkdir -p "$TMP/dsv3" && cp "$ROOT/tests/data/configs/deepseek-v3.json" "$TMP/dsv3/config.json"
expect 1 "DeepSeek-V3 MoE refused" -- "$YZ" info "$TMP/dsv3"
grep -q "MoE is not supported" "$TMP/err" && pass=$((pass+1)) || { fail=$((fail+1)); echo "FAIL: MoE message"; }

expect 0 "tokenize --json" -- "$YZ" tokenize "$MODEL" --text "The Federal Reserve raised interest rates by" --json
check "tokenize ids" "$(json_field "['ids']")" "[602, 2178, 4132, 3306, 987, 1901, 376]"
expect 0 "detokenize" -- "$YZ" detokenize "$MODEL" --ids 602,2178,4132,3306,987,1901,376 --json
check "detokenize text" "$(json_field "['text']")" "The Federal Reserve raised interest rates by"
expect 0 "tokenize --tokenizer file" -- "$YZ" tokenize --tokenizer "$MODEL/tokenizer.json" --text "x"
printf 'line one\nline two\n' > "$TMP/t.txt"
expect 0 "tokenize --text-file" -- "$YZ" tokenize "$MODEL" --text-file "$TMP/t.txt" --json
echo '{"ids": [602, 2178]}' > "$TMP/ids.json"
expect 0 "detokenize --ids-file" -- "$YZ" detokenize "$MODEL" --ids-file "$TMP/ids.json"
expect 2 "tokenize without text" -- "$YZ" tokenize "$MODEL"
expect 2 "tokenize without tokenizer" -- "$YZ" tokenize --text hi
expect 2 "tokenize text and file" -- "$YZ" tokenize "$MODEL" --text a --text-file "$TMP/t.txt"
expect 1 "detokenize bad id" -- "$YZ" detokenize "$MODEL" --ids 1,abc
expect 1 "detokenize id out of range" -- "$YZ" detokenize "$MODEL" --ids 999999
expect 1 "tokenize missing file" -- "$YZ" tokenize "$MODEL" --text-file "$TMP/missing.txt"
echo '{"model": {"type": "WordPiece"}}' > "$TMP/bad_tok.json"
expect 1 "unsupported tokenizer model" -- "$YZ" tokenize --tokenizer "$TMP/bad_tok.json" --text hi

if [ -d "$STORIES" ]; then
  expect 0 "import-llama2c" -- "$YZ" import-llama2c "$STORIES/stories260K.bin" "$STORIES/tok512.model" --out "$TMP/stories" --json
  check "import params" "$(json_field "['num_params']")" "260032"
  expect 1 "import refuses existing output" -- "$YZ" import-llama2c "$STORIES/stories260K.bin" "$STORIES/tok512.model" --out "$TMP/stories"
  expect 0 "import --overwrite" -- "$YZ" import-llama2c "$STORIES/stories260K.bin" "$STORIES/tok512.model" --out "$TMP/stories" --overwrite
  expect 0 "info on imported" -- "$YZ" info "$TMP/stories" --json
  check "imported matches config" "$(json_field "['checkpoint_matches_config']")" "True"
  expect 1 "import bad checkpoint" -- "$YZ" import-llama2c "$STORIES/tok512.model" "$STORIES/tok512.model" --out "$TMP/x"
  [ ! -e "$TMP/x" ] && pass=$((pass+1)) || { fail=$((fail+1)); echo "FAIL: failed import left an output"; }
  expect 2 "import without --out" -- "$YZ" import-llama2c "$STORIES/stories260K.bin" "$STORIES/tok512.model"
fi

# Reference decoder commands.
TINY=$ROOT/tests/data/decoder/tiny_models/llama31
IDS=$(python3 -c "print(','.join(str((i * 37 + 11) % 256) for i in range(40)))")
expect 0 "ppl --ids" -- "$YZ" ppl "$TINY" --ids "$IDS" --ctx 16 --json
check "ppl tokens" "$(json_field "['tokens']")" "30"
check "ppl chunks" "$(json_field "['chunks']")" "2"
expect 0 "ppl --text-file" -- "$YZ" ppl "$MODEL" --text-file "$ROOT/data/demo/wikitext2_test_head.txt" --ctx 64 --max-chunks 2 --json
check "ppl text tokens" "$(json_field "['tokens']")" "126"
expect 1 "ppl text shorter than ctx" -- "$YZ" ppl "$MODEL" --text-file "$TMP/t.txt" --ctx 1024
expect 2 "ppl without input" -- "$YZ" ppl "$MODEL"
if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
  expect 0 "ppl on cuda" -- "$YZ" ppl "$TINY" --ids "$IDS" --ctx 16 --device cuda --dtype float32
else
  expect 1 "ppl on cuda without one" -- "$YZ" ppl "$TINY" --ids "$IDS" --ctx 16 --device cuda
  grep -q "no CUDA device" "$TMP/err" && pass=$((pass+1)) || { fail=$((fail+1)); echo "FAIL: cuda message"; }
fi
expect 1 "ppl bad dtype" -- "$YZ" ppl "$TINY" --ids "$IDS" --ctx 16 --dtype float8
expect 1 "ppl id out of range" -- "$YZ" ppl "$TINY" --ids 1,2,999 --ctx 2
expect 0 "generate greedy" -- "$YZ" generate "$MODEL" --prompt "The Federal Reserve raised interest rates by" --max-new-tokens 24 --json
check "greedy ids (transformers golden)" "$(json_field "['ids']")" "[268, 2178, 4132, 14, 300, 268, 2178, 4132, 520, 268, 1023, 294, 918, 268, 7215, 16, 19, 20, 396, 2178, 4132, 520, 268, 1023]"
expect 0 "generate seeded" -- "$YZ" generate "$MODEL" --prompt "Net income" --max-new-tokens 12 --temperature 0.9 --top-p 0.9 --seed 11 --json
first=$(json_field "['ids']")
expect 0 "generate seeded again" -- "$YZ" generate "$MODEL" --prompt "Net income" --max-new-tokens 12 --temperature 0.9 --top-p 0.9 --seed 11 --json
check "same seed, same tokens" "$(json_field "['ids']")" "$first"
expect 0 "generate other seed" -- "$YZ" generate "$MODEL" --prompt "Net income" --max-new-tokens 12 --temperature 0.9 --top-p 0.9 --seed 12 --json
[ "$(json_field "['ids']")" != "$first" ] && pass=$((pass+1)) || { fail=$((fail+1)); echo "FAIL: seeds differ"; }
expect 0 "generate --chat" -- "$YZ" generate "$MODEL" --prompt "What is revenue?" --chat --max-new-tokens 8
expect 1 "generate bad top-p" -- "$YZ" generate "$MODEL" --prompt x --temperature 1 --top-p 0
expect 0 "logits" -- "$YZ" logits "$TINY" --ids 1,2,3,4 --out "$TMP/logits.safetensors"
check "logits shape" "$(python3 -c "
import json,struct; b=open('$TMP/logits.safetensors','rb').read(); n=struct.unpack('<Q',b[:8])[0]
print(json.loads(b[8:8+n])['logits']['shape'])")" "[4, 256]"
expect 1 "logits refuses existing output" -- "$YZ" logits "$TINY" --ids 1,2 --out "$TMP/logits.safetensors"
expect 0 "logits --overwrite" -- "$YZ" logits "$TINY" --ids 1,2 --out "$TMP/logits.safetensors" --overwrite

# Conversion (small calibration so it stays quick).
CONV="--model $MODEL --calib $ROOT/data/demo/wikitext2_test_head.txt --calib-samples 8 --calib-len 64 --rope-dim 32 --kv-lora-rank 96 --freqfold 2"
expect 0 "convert" -- "$YZ" convert $CONV --out "$TMP/mla" --eval-file "$TMP/t.txt" --eval-ctx 4 --eval-chunks 1 --report "$TMP/report.json" --json
check "report kv after" "$(python3 -c "import json; print(json.load(open('$TMP/report.json'))['kv_elements_per_token']['after'])")" "1024"
check "report stages" "$(python3 -c "import json; print(sorted(json.load(open('$TMP/report.json'))['ppl']))")" "['final', 'original', 'partial_rope']"
expect 0 "info on converted" -- "$YZ" info "$TMP/mla" --json
check "converted family" "$(json_field "['family']")" "mla"
check "converted kv bytes" "$(json_field "['kv_bytes_per_token_bf16']")" "2048"
check "converted checkpoint complete" "$(json_field "['checkpoint_matches_config']")" "True"
expect 0 "generate from converted" -- "$YZ" generate "$TMP/mla" --prompt "The" --max-new-tokens 4
expect 1 "convert refuses existing output" -- "$YZ" convert $CONV --out "$TMP/mla"
expect 1 "convert bad rope dim" -- "$YZ" convert --model "$MODEL" --calib "$TMP/t.txt" --rope-dim 30 --out "$TMP/mla2"
[ ! -e "$TMP/mla2" ] && pass=$((pass+1)) || { fail=$((fail+1)); echo "FAIL: failed convert left an output"; }
expect 1 "convert short calibration" -- "$YZ" convert --model "$MODEL" --calib "$TMP/t.txt" --out "$TMP/mla3"
grep -q "calibration text is too short" "$TMP/err" && pass=$((pass+1)) || { fail=$((fail+1)); echo "FAIL: short calibration message"; }
expect 1 "convert into the input" -- "$YZ" convert $CONV --out "$MODEL" --overwrite
check "report phases have peak memory" "$(python3 -c "import json; p=json.load(open('$TMP/report.json'))['phases']['convert']; print(p['peak_rss_bytes'] > 0 and p['wall_s'] > 0)")" "True"
# The stock target: no biases, latent norms, a low-rank query; scored beside the exact export.
expect 0 "convert stock" -- "$YZ" convert $CONV --out "$TMP/stock" --target stock --q-lora-rank 64 --eval-file "$TMP/t.txt" --eval-ctx 4 --eval-chunks 1 --report "$TMP/stock.json" --json
check "stock config" "$(python3 -c "import json; c=json.load(open('$TMP/stock/config.json')); print(c['attention_bias'], c['qk_latent_layernorm'], c['q_lora_rank'], c['youzhi']['target'])")" "False True 64 stock"
check "stock report scores native too" "$(python3 -c "import json; print(sorted(json.load(open('$TMP/stock.json'))['ppl']))")" "['final', 'final_native', 'original', 'partial_rope']"
expect 0 "info on stock" -- "$YZ" info "$TMP/stock" --json
check "stock checkpoint complete" "$(json_field "['checkpoint_matches_config']")" "True"
expect 0 "generate from stock" -- "$YZ" generate "$TMP/stock" --prompt "The" --max-new-tokens 4
# --freqfold auto scores on documents held out from calibration, never on the eval text.
expect 0 "convert freqfold auto" -- "$YZ" convert --model "$MODEL" --calib "$ROOT/data/demo/wikitext2_test_head.txt" --calib-samples 4 --calib-len 64 --select-samples 2 --select-len 64 --rope-dim 32 --kv-lora-rank 96 --freqfold auto --out "$TMP/auto" --report "$TMP/auto.json" --json
check "auto chose a fold" "$(python3 -c "import json; r=json.load(open('$TMP/auto.json')); s=r['freqfold_search']; print(s['chosen'] in (2,4,8,16,32) and r['plan']['freqfold'] == [s['chosen']]*8 and len(s['selection_ppl_partial_rope']) == 5)")" "True"
expect 1 "auto refuses selecting on the eval text" -- "$YZ" convert --model "$MODEL" --calib "$TMP/t.txt" --freqfold auto --eval-file "$TMP/t.txt" --out "$TMP/auto2"
grep -q "held-out" "$TMP/err" && pass=$((pass+1)) || { fail=$((fail+1)); echo "FAIL: auto on eval text message"; }
# Layer-adaptive conversion and the uniform-vs-adaptive benchmark, on the small imported model.
if [ -d "$STORIES" ]; then
  ST="--model $TMP/stories --calib $ROOT/data/demo/calibration_sotu_sec.txt.xz --calib-samples 8 --calib-len 64"
  EV=$ROOT/../shared/data/eval_general/tinystories_valid_head794k.txt
  head -c 60000 "$EV" > "$TMP/ev.txt"
  expect 0 "convert --adaptive budget" -- "$YZ" convert $ST --select-samples 4 --select-len 64 --adaptive budget --kv-budget 0.5 --out "$TMP/st_budget" --report "$TMP/st_budget.json" --json
  check "budget plan within the budget" "$(python3 -c "import json; r=json.load(open('$TMP/st_budget.json')); print(r['kv_elements_per_token']['after'] <= r['kv_elements_per_token']['before'] // 2, len(r['adaptive']['plan']))")" "True 5"
  expect 0 "info on adaptive" -- "$YZ" info "$TMP/st_budget" --json
  check "adaptive checkpoint complete" "$(json_field "['checkpoint_matches_config']")" "True"
  expect 0 "convert --adaptive fold --target stock" -- "$YZ" convert $ST --select-samples 4 --select-len 64 --adaptive fold --kv-budget 0.5 --target stock --out "$TMP/st_fold"
  expect 0 "bench convert" -- "$YZ" bench convert $ST --select "$ROOT/data/demo/wikitext2_test_head.txt" --select-samples 4 --select-len 64 --eval-file "$TMP/ev.txt" --eval-ctx 64 --eval-chunks 4 --kv-budget 0.5 --seeds 2 --out "$TMP/bench.json"
  check "bench methods and R" "$(python3 -c "
import json; r=json.load(open('$TMP/bench.json')); s=r['summary']
print(sorted(s), 'reduction_vs_uniform' in s['adaptive_budget'], len(r['runs']), len({s[m]['kv_elements_per_token'] for m in s if m != 'original'}) >= 1)")" "['adaptive_budget', 'adaptive_fold', 'original', 'transmla_default', 'uniform_best'] True 2 True"
  [ -s "$TMP/bench.md" ] && grep -q "<svg" "$TMP/bench.svg" && pass=$((pass+1)) || { fail=$((fail+1)); echo "FAIL: bench markdown/svg"; }
  expect 1 "bench refuses selecting on the eval text" -- "$YZ" bench convert $ST --select "$TMP/ev.txt" --eval-file "$TMP/ev.txt" --kv-budget 0.5 --out "$TMP/bench2.json"
  expect 1 "bench bad budget" -- "$YZ" bench convert $ST --select "$TMP/t.txt" --eval-file "$TMP/ev.txt" --kv-budget 1.5 --out "$TMP/bench3.json"
fi
expect 2 "convert bad target" -- "$YZ" convert $CONV --out "$TMP/bad" --target vllm
expect 2 "convert bad freqfold list" -- "$YZ" convert $CONV --out "$TMP/bad" --freqfold 2,x
expect 1 "convert freqfold list of the wrong length" -- "$YZ" convert $CONV --out "$TMP/bad" --freqfold 2,4
expect 1 "convert bad q-lora rank" -- "$YZ" convert $CONV --out "$TMP/bad" --q-lora-rank 100000
[ ! -e "$TMP/bad" ] && pass=$((pass+1)) || { fail=$((fail+1)); echo "FAIL: refused convert left an output"; }

expect 0 "demo" -- "$YZ" demo
grep -q "decode(encode(x)) == x: yes" "$TMP/out" && pass=$((pass+1)) || { fail=$((fail+1)); echo "FAIL: demo round trip"; }

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
