#!/usr/bin/env bash
# The `youzhi eval` / `youzhi data` contract: unknown tasks list the known ones, malformed rows
# name FILE:LINE, a missing data file names its path and source, --json prints one object,
# results are refused without --overwrite, --compare prints one table, --show-prompt prints the
# documented few-shot prompt.
# Usage: cli_eval_test.sh path/to/youzhi REPO_ROOT
source "$(dirname "$0")/cli_lib.sh"
has() {  # has DESCRIPTION FILE TEXT: FILE contains TEXT
  if grep -qF -- "$3" "$2"; then pass=$((pass+1)); else
    fail=$((fail+1)); echo "FAIL: $1: '$3' not in $2:"; head -5 "$2"; fi
}

expect 0 "eval help" -- "$YZ" eval --help
expect 2 "eval without tasks" -- "$YZ" eval "$MODEL"
expect 2 "eval bad protocol" -- "$YZ" eval "$MODEL" --tasks fpb --protocol vote
expect 1 "unknown task" -- "$YZ" eval "$MODEL" --tasks fpb,fbp
has "unknown task lists the known ones" "$TMP/err" "unknown task 'fbp'; known tasks: fpb, fiqa_sa, tfns, nwgi, cfa"
expect 1 "unknown suite" -- "$YZ" eval "$MODEL" --suite finance
mkdir -p "$TMP/nodata"
expect 1 "missing data file" -- "$YZ" eval "$MODEL" --tasks cfa --data-dir "$TMP/nodata"
has "missing file names path and source" "$TMP/err" "$TMP/nodata/fin_eval/cfa/flare_cfa_1032.json: missing; task cfa reads it from FinBen flare-cfa"

printf '{"context": "Is 2 > 1?", "choices": ["yes", "no"], "gold": 0}\n{"context": "Q", "choices": "yes"}\n' > "$TMP/bad.jsonl"
expect 1 "malformed task file row" -- "$YZ" eval "$MODEL" --task-file "$TMP/bad.jsonl"
has "FILE:LINE" "$TMP/err" "bad.jsonl:2: 'choices' must be a non-empty array of strings"
printf '{"context": "Is 2 > 1?", "choices": ["yes", "no"], "gold": 0}\n{"context": "Is 1 > 2?", "choices": ["yes", "no"], "gold": "no"}\n{"context": "Say hi:", "target": "hi"}\n' > "$TMP/mixed.jsonl"
expect 1 "task file mixing forms" -- "$YZ" eval "$MODEL" --task-file "$TMP/mixed.jsonl"
head -2 "$TMP/mixed.jsonl" > "$TMP/yesno.jsonl"
expect 0 "task file, both protocols" -- "$YZ" eval "$MODEL" --task-file "$TMP/yesno.jsonl" --protocol both --json
check "json lines" "$(wc -l < "$TMP/out")" "1"
check "task file docs" "$(json_field "['tasks']['yesno']['docs']")" "2"
check "task file majority" "$(json_field "['tasks']['yesno']['majority']['acc']")" "0.5"
json_field "['tasks']['yesno']['generate']['missing']" > /dev/null && pass=$((pass+1)) || { fail=$((fail+1)); echo "FAIL: generate block"; }

expect 0 "eval fpb+cfa --out" -- "$YZ" eval "$MODEL" --tasks fpb,cfa --limit 12 --out "$TMP/a.json" --json
check "fpb docs" "$(json_field "['tasks']['fpb']['docs']")" "12"
check "fpb requests" "$(json_field "['tasks']['fpb']['loglik']['requests']")" "36"
check "cfa majority label present" "$(json_field "['tasks']['cfa']['majority']['label'] in 'ABC'")" "True"
expect 1 "refuses existing --out" -- "$YZ" eval "$MODEL" --tasks fpb --limit 2 --out "$TMP/a.json"
expect 0 "--overwrite" -- "$YZ" eval "$MODEL" --tasks fpb --limit 12 --batch 5 --shots 2 --out "$TMP/a.json" --overwrite
expect 0 "truncation is counted" -- "$YZ" eval "$MODEL" --tasks fpb --limit 4 --max-length 24 --protocol both --json
check "loglik truncated docs" "$(json_field "['tasks']['fpb']['loglik']['truncated_docs']")" "4"
check "generate truncated docs" "$(json_field "['tasks']['fpb']['generate']['truncated_docs']")" "4"
expect 1 "window beyond the model" -- "$YZ" eval "$MODEL" --tasks fpb --limit 1 --max-length 4096
has "window error names the limit" "$TMP/err" "exceeds the model's max_position_embeddings (2048)"
expect 0 "perplexity task" -- "$YZ" eval "$MODEL" --tasks ppl_wikitext --limit 2 --json
check "ppl windows" "$(json_field "['tasks']['ppl_wikitext']['perplexity']['chunks']")" "2"

expect 0 "second run" -- "$YZ" eval "$MODEL" --tasks fpb --limit 12 --out "$TMP/b.json"
expect 0 "compare markdown" -- "$YZ" eval --compare "$TMP/a.json" "$TMP/b.json" --markdown
has "compare header" "$TMP/out" "| task | metric | majority | a | b |"
has "compare fpb row" "$TMP/out" "| fpb | loglik acc |"
expect 0 "compare json" -- "$YZ" eval --compare "$TMP/a.json" "$TMP/b.json" --json
check "compare runs" "$(json_field "['runs']")" "['a', 'b']"
expect 1 "compare with a model" -- "$YZ" eval "$MODEL" --compare "$TMP/a.json"
expect 1 "compare missing file" -- "$YZ" eval --compare "$TMP/nope.json"

expect 0 "show prompt" -- "$YZ" eval --tasks fpb --shots 3 --seed 1234 --show-prompt 2
tail -n +2 "$TMP/out" > "$TMP/prompt.txt"
{ cat "$ROOT/tests/data/eval/prompt_fpb_k3_seed1234_doc2.txt"; printf '\n'; } > "$TMP/want.txt"
cmp -s "$TMP/prompt.txt" "$TMP/want.txt" && pass=$((pass+1)) || { fail=$((fail+1)); echo "FAIL: --show-prompt differs from the documented prompt"; diff "$TMP/prompt.txt" "$TMP/want.txt" | head; }

expect 0 "data fpb-train" -- "$YZ" data fpb-train --out "$TMP/fpb_train.jsonl" --json
check "fpb train rows" "$(json_field "['rows']")" "3629"
check "fpb train file rows" "$(wc -l < "$TMP/fpb_train.jsonl")" "3629"
expect 1 "fpb-train refuses existing" -- "$YZ" data fpb-train --out "$TMP/fpb_train.jsonl"
expect 2 "data without subcommand" -- "$YZ" data

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
