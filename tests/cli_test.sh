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

# Chat templates: the model's own (ChatML), template files, errors the templates raise.
TPL=$ROOT/tests/data/templates
echo '[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "What is EBITDA?"}]' > "$TMP/msgs.json"
expect 0 "chat-template" -- "$YZ" chat-template "$MODEL" --messages "$TMP/msgs.json" --add-generation-prompt
check "chat-template prompt" "$(cat "$TMP/out"; echo .)" "$(printf '<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nWhat is EBITDA?<|im_end|>\n<|im_start|>assistant\n.')"
expect 0 "chat-template --json" -- "$YZ" chat-template "$MODEL" --messages "$TMP/msgs.json" --json
check "chat-template json lines" "$(wc -l < "$TMP/out")" "1"
prompt_ids=$(json_field "['ids']")
json_field "['prompt']" > "$TMP/prompt.txt"
truncate -s -1 "$TMP/prompt.txt"  # print() added a newline
expect 0 "tokenize the rendered prompt" -- "$YZ" tokenize "$MODEL" --text-file "$TMP/prompt.txt" --no-special --json
check "chat-template ids = tokenize(prompt)" "$(json_field "['ids']")" "$prompt_ids"
echo '{"messages": [{"role": "user", "content": "Price of AAPL?"}], "tools": [{"type": "function", "function": {"name": "quote", "parameters": {}}}]}' > "$TMP/request.json"
expect 0 "chat-template request with tools" -- "$YZ" chat-template --template-file "$TPL/llama3.1/chat_template.jinja" --messages "$TMP/request.json" --kwargs '{"date_string": "01 Jan 2025", "bos_token": "<|begin_of_text|>"}' --json
json_field "['prompt']" > "$TMP/p2.txt"
grep -q 'Today Date: 01 Jan 2025' "$TMP/p2.txt" && grep -q '"name": "quote"' "$TMP/p2.txt" && pass=$((pass+1)) || { fail=$((fail+1)); echo "FAIL: tools and kwargs reach the template"; }
echo '[{"role": "user", "content": "a"}, {"role": "user", "content": "b"}]' > "$TMP/two_users.json"
expect 1 "template raises on bad alternation" -- "$YZ" chat-template --template-file "$TPL/mistral_v0.3/chat_template.jinja" --messages "$TMP/two_users.json"
grep -q 'raise_exception: After the optional system message, conversation roles must alternate' "$TMP/err" && pass=$((pass+1)) || { fail=$((fail+1)); echo "FAIL: raise_exception message"; }
printf '{%% for m in messages %%}\n{{ m.content | nosuch }}\n{%% endfor %%}' > "$TMP/bad.jinja"
expect 1 "template syntax error" -- "$YZ" chat-template --template-file "$TMP/bad.jinja" --messages "$TMP/msgs.json"
grep -q "bad.jinja: line 2, column 16: no filter named 'nosuch'" "$TMP/err" && pass=$((pass+1)) || { fail=$((fail+1)); echo "FAIL: syntax error position"; cat "$TMP/err"; }
expect 2 "chat-template without a template" -- "$YZ" chat-template --messages "$TMP/msgs.json"
expect 2 "chat-template bad --kwargs" -- "$YZ" chat-template "$MODEL" --messages "$TMP/msgs.json" --kwargs '{oops'
echo '{"role": "user"}' > "$TMP/not_a_list.json"
expect 1 "chat-template messages not a list" -- "$YZ" chat-template "$MODEL" --messages "$TMP/not_a_list.json"
expect 1 "chat-template missing messages file" -- "$YZ" chat-template "$MODEL" --messages "$TMP/nope.json"
# A model without a chat template: generate --chat says what to pass; ChatML only when asked.
mkdir -p "$TMP/notemplate"
model_abs=$(cd "$MODEL" && pwd)
for f in config.json generation_config.json tokenizer.json tokenizer_config.json model.safetensors.index.json "$model_abs"/model-*.safetensors; do ln -s "$model_abs/$(basename "$f")" "$TMP/notemplate/"; done
expect 1 "generate --chat without a template" -- "$YZ" generate "$TMP/notemplate" --prompt "Hi" --chat --max-new-tokens 2
grep -q "the model has no chat template.*--chat-template chatml" "$TMP/err" && pass=$((pass+1)) || { fail=$((fail+1)); echo "FAIL: no-template message"; cat "$TMP/err"; }
expect 0 "generate --chat-template chatml" -- "$YZ" generate "$TMP/notemplate" --prompt "What is revenue?" --chat-template chatml --max-new-tokens 8 --json
chatml_ids=$(json_field "['prompt_ids']")
expect 0 "generate --chat (model template)" -- "$YZ" generate "$MODEL" --prompt "What is revenue?" --chat --max-new-tokens 8 --json
check "ChatML fallback = the model's ChatML template" "$(json_field "['prompt_ids']")" "$chatml_ids"
expect 0 "generate --chat-template FILE" -- "$YZ" generate "$MODEL" --prompt "Hi" --chat-template "$MODEL/chat_template.jinja" --max-new-tokens 2
expect 0 "logits" -- "$YZ" logits "$TINY" --ids 1,2,3,4 --out "$TMP/logits.safetensors"
check "logits shape" "$(python3 -c "
import json,struct; b=open('$TMP/logits.safetensors','rb').read(); n=struct.unpack('<Q',b[:8])[0]
print(json.loads(b[8:8+n])['logits']['shape'])")" "[4, 256]"
expect 1 "logits refuses existing output" -- "$YZ" logits "$TINY" --ids 1,2 --out "$TMP/logits.safetensors"
expect 0 "logits --overwrite" -- "$YZ" logits "$TINY" --ids 1,2 --out "$TMP/logits.safetensors" --overwrite

# bench throughput on the CPU engine: vLLM's result keys, --json alone on stdout, refusals.
BT=(bench throughput "$MODEL" --input-len 12 --output-len 5 --num-prompts 6 --kv-cache-memory 0.05)
expect 0 "bench throughput" -- "$YZ" "${BT[@]}" --json --out "$TMP/tp.json"
check "bench throughput tokens" "$(json_field "['results'][0]['total_num_tokens']")" "102"
check "bench throughput requests" "$(python3 -c "import json; r=json.load(open('$TMP/tp.json'))['results'][0]; print(r['num_requests'], r['output_tokens_per_second'] > 0)")" "6 True"
check "bench throughput progress on stderr" "$(grep -c '^bench: 30/30 tok' "$TMP/err")" "1"
expect 1 "bench throughput refuses existing --out" -- "$YZ" "${BT[@]}" --out "$TMP/tp.json"
expect 1 "bench throughput bad length" -- "$YZ" bench throughput "$MODEL" --input-len 0 --num-prompts 2

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]

