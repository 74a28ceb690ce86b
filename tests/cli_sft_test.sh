#!/usr/bin/env bash
# The CLI contract of issue 13: `youzhi data fin-sft` (per-source counts, no row equal to a test
# document), `youzhi data leak-check` finding planted test rows (exact and whitespace-normalised),
# `youzhi train sft` on chat, instruction and completion rows of the bundled model (a loadable
# output; with a teacher's KD term; malformed rows and refused conversations as FILE:LINE errors
# with the template's own message), and `youzhi pipeline` recipe checks (JSON pointers).
# Usage: cli_sft_test.sh path/to/youzhi REPO_ROOT
source "$(dirname "$0")/cli_lib.sh"
DATA=$ROOT/../shared/data
FPB=$DATA/fin_eval/finlora/fpb_test.jsonl

# The mixture: every source present, counts add up, the file passes the leak check.
expect 0 "data fin-sft" -- "$YZ" data fin-sft --out "$TMP/fin.jsonl" --json
check "sources" "$(json_field "['counts'].keys().__len__()")" "6"
check "rows = sum of counts" "$(python3 -c "import json; r=json.load(open('$TMP/out')); print(r['rows'] == sum(r['counts'].values()) == sum(1 for _ in open('$TMP/fin.jsonl')))")" "True"
check "FPB train rows" "$(json_field "['counts']['fpb_train'] > 3000")" "True"
expect 0 "the mixture passes the leak check" -- "$YZ" data leak-check "$TMP/fin.jsonl"
expect 1 "output exists" -- "$YZ" data fin-sft --out "$TMP/fin.jsonl"

# Planted test rows: line 2 exactly FPB test row 4, line 3 TFNS row 0 with its spaces doubled.
python3 - "$FPB" "$DATA/fin_eval/finlora/tfns_test.jsonl" "$TMP/planted.jsonl" <<'PY'
import json, sys
fpb = [json.loads(l) for l in open(sys.argv[1])]
tfns = json.loads(open(sys.argv[2]).readline())
with open(sys.argv[3], "w") as f:
    f.write(json.dumps({"context": "Explain EBIT. Answer:", "target": " Earnings before interest."}) + "\n")
    f.write(json.dumps({"context": fpb[4]["context"], "target": fpb[4]["target"]}) + "\n")
    f.write(json.dumps({"context": tfns["context"].replace(" ", "  "), "target": "x"}) + "\n")
PY
expect 1 "planted rows are found" -- "$YZ" data leak-check "$TMP/planted.jsonl"
grep -q "2 of 3 rows equal a test document" "$TMP/err" && pass=$((pass+1)) || { fail=$((fail+1)); echo "FAIL: leak count"; cat "$TMP/err"; }
grep -q "planted.jsonl:2: equals fpb #4$" "$TMP/err" && pass=$((pass+1)) || { fail=$((fail+1)); echo "FAIL: exact leak line"; }
grep -q "planted.jsonl:3: equals tfns #0 (whitespace-normalised)" "$TMP/err" && pass=$((pass+1)) || { fail=$((fail+1)); echo "FAIL: normalised leak line"; }

# train sft: the three formats in one run, a few short steps.
cat > "$TMP/chat.jsonl" <<'J'
{"messages": [{"role": "system", "content": "You are a financial analyst."}, {"role": "user", "content": "Sentiment of: operating profit rose to EUR 13.1 mn ."}, {"role": "assistant", "content": "positive"}]}
{"messages": [{"role": "user", "content": "What is EBITDA?"}, {"role": "assistant", "content": "Earnings before interest, taxes, depreciation and amortization."}, {"role": "user", "content": "And EBIT?"}, {"role": "assistant", "content": "Earnings before interest and taxes."}]}
J
printf '%s\n' '{"instruction": "What is the sentiment of this news?", "input": "Sales fell 20 % .", "output": "negative"}' > "$TMP/inst.jsonl"
head -3 "$TMP/fin.jsonl" > "$TMP/comp.jsonl"
T=(--model "$MODEL" --data "$TMP/chat.jsonl" "$TMP/inst.jsonl" "$TMP/comp.jsonl" --seq-len 64 --batch-tokens 128 --lr 1e-4)
expect 0 "train sft" -- "$YZ" train sft "${T[@]}" --steps 2 --out "$TMP/sft" --json
check "objective" "$(json_field "['objective']")" "sft"
check "rows" "$(json_field "['data_rows']")" "6"
check "loss is finite" "$(python3 -c "import json, math; print(math.isfinite(json.load(open('$TMP/out'))['loss']))")" "True"
check "args record the format choice" "$(python3 -c "import json; a=json.load(open('$TMP/sft/train/args.json')); print(a['objective'], repr(a['format']), a['kd_weight'])")" "sft '' 0.0"
expect 0 "output loads" -- "$YZ" ppl "$TMP/sft" --text-file "$ROOT/data/demo/wikitext2_test_head.txt" --ctx 64 --max-chunks 2 --json
expect 0 "train sft --epochs with a KD term" -- "$YZ" train sft "${T[@]}" --epochs 1 --teacher "$MODEL" --kd-weight 0.5 --out "$TMP/sft_kd" --json
check "epochs: ceil(data tokens / batch)" "$(python3 -c "import json, math; r=json.load(open('$TMP/out')); print(r['steps'] == math.ceil(r['data_tokens'] / 128))")" "True"

# Bad input.
printf '%s\n%s\n' '{"context": "Q:", "target": " yes"}' '{"context": "a"}' > "$TMP/bad.jsonl"
expect 1 "malformed row" -- "$YZ" train sft --model "$MODEL" --data "$TMP/bad.jsonl" --steps 1 --out "$TMP/x"
grep -q "bad.jsonl:2: missing field 'target'" "$TMP/err" && pass=$((pass+1)) || { fail=$((fail+1)); echo "FAIL: file:line"; }
printf '%s\n' '{"messages": [{"role": "user", "content": "a"}, {"role": "user", "content": "b"}, {"role": "assistant", "content": "c"}]}' > "$TMP/roles.jsonl"
expect 1 "template refuses the roles" -- "$YZ" train sft --model "$MODEL" --data "$TMP/roles.jsonl" --steps 1 \
  --chat-template "$ROOT/tests/data/templates/mistral_v0.3/chat_template.jinja" --out "$TMP/x"
grep -q "roles.jsonl:1: the chat template .* rejects this conversation: .*alternate" "$TMP/err" && pass=$((pass+1)) || { fail=$((fail+1)); echo "FAIL: template message"; cat "$TMP/err"; }
expect 1 "teacher without --kd-weight" -- "$YZ" train sft "${T[@]}" --steps 1 --teacher "$MODEL" --out "$TMP/x"
expect 2 "unknown format" -- "$YZ" train sft "${T[@]}" --steps 1 --format alpaca --out "$TMP/x"
[ ! -e "$TMP/x" ] && pass=$((pass+1)) || { fail=$((fail+1)); echo "FAIL: a refused run left an output"; }

# pipeline: the committed recipes plan; recipe errors name the JSON pointer.
for r in "$ROOT"/recipes/*.json; do
  expect 0 "recipe $(basename "$r") checks" -- "$YZ" pipeline "$r" --check --out "$TMP/p"
done
check "CPU recipe: 7 stages, 6 eval rows" "$(grep -c ': youzhi' "$TMP/out")" "12"
python3 -c "
import json; r = json.load(open('$ROOT/recipes/yz-qwen2-16m-third-cpu.json'))
r['model'] = '$MODEL'; r['stages'][0]['kind'] = 'serve'; json.dump(r, open('$TMP/bad_recipe.json', 'w'))"
expect 1 "unknown stage kind" -- "$YZ" pipeline "$TMP/bad_recipe.json" --check
grep -q "recipe /stages/0/kind: unknown stage kind 'serve'" "$TMP/err" && pass=$((pass+1)) || { fail=$((fail+1)); echo "FAIL: pointer message"; }

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
