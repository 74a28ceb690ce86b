#!/usr/bin/env bash
# The CLI contract: one "error: ..." line and exit 1 on bad input, exit 2 on usage errors,
# --json prints one JSON object, outputs are refused without --overwrite. Conversion, the
# benchmark and the demo are in cli_convert_test.sh (run in parallel by ctest).
# Usage: cli_test.sh path/to/youzhi REPO_ROOT
source "$(dirname "$0")/cli_lib.sh"

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

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]

