#!/usr/bin/env bash
# The CLI contract of `youzhi train`: a few-step GKD run of the bundled model into its MLA
# conversion (the output loads in other commands, its config is the student's byte for byte, a
# stock student stays stock), bad inputs as named errors, SIGTERM saves and exits 0, kill -9 then
# --resume reproduces the uninterrupted loss curve exactly (on-policy steps included), a damaged
# checkpoint falls back to the previous one, --keep, and 2 data-parallel processes (Gloo) against
# 1 with the same global batch (losses within 1e-6).
# Usage: cli_train_test.sh path/to/youzhi REPO_ROOT
source "$(dirname "$0")/cli_lib.sh"
CAL=$ROOT/data/demo/calibration_sotu_sec.txt.xz
WIKI=$ROOT/data/demo/wikitext2_test_head.txt
S=$TMP/student
CONV=(--model "$MODEL" --calib "$CAL" --calib-samples 8 --calib-len 64 --rope-dim 32 --kv-lora-rank 96 --freqfold 2)
expect 0 "convert a student" -- "$YZ" convert "${CONV[@]}" --out "$S"
# Small rows keep each step well under a second on 2 cores; --batch-tokens and --lr are left out
# of D so that cases can set them (options may be given once).
D=(--teacher "$MODEL" --student "$S" --data "$CAL" --seq-len 32 --max-new-tokens 8)
losses() { python3 -c "import json; print(' '.join(repr(json.loads(l)['loss']) for l in open('$1/train/log.jsonl') if '\"loss\"' in l))"; }

# A few steps, half of them on-policy, with held-out perplexity before and after.
expect 0 "train distill" -- "$YZ" train distill "${D[@]}" --batch-tokens 128 --steps 3 --lambda 0.5 \
  --eval-file "$WIKI" --eval-ctx 64 --eval-chunks 4 --out "$TMP/run" --json
check "one JSON line" "$(wc -l < "$TMP/out")" "1"
check "steps" "$(json_field "['steps']")" "3"
check "tokens" "$(json_field "['tokens']")" "384"
check "loss is finite" "$(python3 -c "import json, math; print(math.isfinite(json.load(open('$TMP/out'))['loss']))")" "True"
check "eval before and after" "$(python3 -c "import json; r = json.load(open('$TMP/out')); print(sorted(r['eval_before']) == sorted(r['eval_after']) == ['wikitext2_test_head.txt'])")" "True"
cmp -s "$S/config.json" "$TMP/run/config.json" && pass=$((pass+1)) || { fail=$((fail+1)); echo "FAIL: config.json changed"; }
cmp -s "$S/tokenizer.json" "$TMP/run/tokenizer.json" && pass=$((pass+1)) || { fail=$((fail+1)); echo "FAIL: tokenizer.json changed"; }
check "log: 3 steps" "$(grep -c '"loss"' "$TMP/run/train/log.jsonl")" "3"
check "log: every step says whether it was on-policy" "$(grep -c '"on_policy":' "$TMP/run/train/log.jsonl")" "3"
[ -s "$TMP/run/train/loss.svg" ] && pass=$((pass+1)) || { fail=$((fail+1)); echo "FAIL: no loss.svg"; }
expect 0 "output loads: info" -- "$YZ" info "$TMP/run" --json
check "output matches its config" "$(json_field "['checkpoint_matches_config']")" "True"
expect 0 "output loads: ppl" -- "$YZ" ppl "$TMP/run" --text-file "$WIKI" --ctx 64 --max-chunks 2 --json
expect 0 "output loads: generate" -- "$YZ" generate "$TMP/run" --prompt "The bank" --max-new-tokens 4

# A stock student stays stock: same config, same tensor names.
expect 0 "convert a stock student" -- "$YZ" convert "${CONV[@]}" --target stock --out "$TMP/stock"
expect 0 "train the stock student" -- "$YZ" train distill "${D[@]/$S/$TMP/stock}" --batch-tokens 128 --steps 1 --lambda 0 --out "$TMP/stock_run"
cmp -s "$TMP/stock/config.json" "$TMP/stock_run/config.json" && pass=$((pass+1)) || { fail=$((fail+1)); echo "FAIL: stock config changed"; }
expect 0 "stock output loads" -- "$YZ" info "$TMP/stock_run" --json
check "stock output matches its config" "$(json_field "['checkpoint_matches_config']")" "True"

# Bad input: named errors before any work.
expect 1 "beta out of range" -- "$YZ" train distill "${D[@]}" --steps 1 --beta 1.5 --out "$TMP/x"
grep -q -- "--beta 1.5 is outside \[0, 1\]" "$TMP/err" && pass=$((pass+1)) || { fail=$((fail+1)); echo "FAIL: beta message"; }
expect 1 "lambda out of range" -- "$YZ" train distill "${D[@]}" --steps 1 --lambda -0.1 --out "$TMP/x"
expect 2 "unknown --train group" -- "$YZ" train distill "${D[@]}" --steps 1 --train mlp --out "$TMP/x"
expect 2 "train without subcommand" -- "$YZ" train
expect 1 "budget given twice" -- "$YZ" train distill "${D[@]}" --steps 1 --tokens 256 --out "$TMP/x"
expect 1 "batch not divisible" -- "$YZ" train distill "${D[@]}" --steps 1 --batch-tokens 48 --out "$TMP/x"
printf 'too little text\n' > "$TMP/small.txt"
expect 1 "too little data" -- "$YZ" train distill --teacher "$MODEL" --student "$S" --data "$TMP/small.txt" \
  --seq-len 32 --lambda 0 --steps 1 --out "$TMP/x"
grep -q "fewer than 16384 tokens" "$TMP/err" && pass=$((pass+1)) || { fail=$((fail+1)); echo "FAIL: too-little-data message"; }
expect 1 "existing output" -- "$YZ" train distill "${D[@]}" --steps 3 --out "$TMP/run"
grep -q "pass --resume .* or --overwrite" "$TMP/err" && pass=$((pass+1)) || { fail=$((fail+1)); echo "FAIL: existing-output message"; }
expect 1 "output inside an input" -- "$YZ" train distill "${D[@]}" --steps 1 --out "$S/inside"
cp -r "$S" "$TMP/other_tok"
python3 - "$TMP/other_tok/tokenizer.json" <<'PY'
import json, sys
t = json.load(open(sys.argv[1])); t["added_tokens"].append({"id": 8191, "content": "<x>", "single_word": False,
    "lstrip": False, "rstrip": False, "normalized": False, "special": True})
json.dump(t, open(sys.argv[1], "w"))
PY
expect 1 "different tokenizers" -- "$YZ" train distill "${D[@]/$S/$TMP/other_tok}" --steps 1 --out "$TMP/x"
grep -q "differ: distillation needs the same tokenizer" "$TMP/err" && pass=$((pass+1)) || { fail=$((fail+1)); echo "FAIL: tokenizer message"; }
cp -r "$S" "$TMP/other_vocab"
sed -i 's/"vocab_size": 8192/"vocab_size": 8000/' "$TMP/other_vocab/config.json"
expect 1 "different vocabularies" -- "$YZ" train distill "${D[@]/$S/$TMP/other_vocab}" --steps 1 --out "$TMP/x"
[ ! -e "$TMP/x" ] && pass=$((pass+1)) || { fail=$((fail+1)); echo "FAIL: a refused run left an output"; }
expect 0 "a non-conversion student is warned" -- "$YZ" train distill "${D[@]/$S/$MODEL}" --batch-tokens 128 --steps 1 --lambda 0 --out "$TMP/gqa_student"
grep -q "warning: student .* not an MLA conversion" "$TMP/err" && pass=$((pass+1)) || { fail=$((fail+1)); echo "FAIL: non-conversion warning"; }

# kill -9 mid-run, --resume: the loss curve equals the uninterrupted one exactly; on-policy steps
# included. Then a damaged newest checkpoint: the previous one is used and the curve still agrees.
R=("${D[@]}" --batch-tokens 64 --steps 8 --lambda 0.5 --save-every 2 --keep 2)
expect 0 "uninterrupted run" -- "$YZ" train distill "${R[@]}" --out "$TMP/a"
check "some steps on-policy" "$(grep -c '"on_policy":true' "$TMP/a/train/log.jsonl" | sed 's/^[1-9][0-9]*$/yes/')" "yes"
"$YZ" train distill "${R[@]}" --out "$TMP/b" > /dev/null 2>&1 &
pid=$!
for _ in $(seq 600); do
  [ -f "$TMP/b/train/log.jsonl" ] && [ "$(grep -c '"loss"' "$TMP/b/train/log.jsonl")" -ge 5 ] && break
  sleep 0.05
done
kill -9 $pid 2>/dev/null; wait $pid 2>/dev/null; rc=$?
check "run b was killed mid-run" "$rc" "137"
expect 0 "resume after kill -9" -- "$YZ" train distill "${R[@]}" --out "$TMP/b" --resume
check "resumed loss curve" "$(losses "$TMP/b")" "$(losses "$TMP/a")"
check "--keep 2" "$(ls "$TMP/b/train" | grep -c '^ckpt-')" "2"
printf 'x' >> "$TMP/b/train/ckpt-000008/optimizer.safetensors"
expect 0 "resume past a damaged checkpoint" -- "$YZ" train distill "${R[@]}" --out "$TMP/b" --resume
grep -q "ckpt-000008 is damaged (optimizer.safetensors has the wrong size)" "$TMP/err" && pass=$((pass+1)) || { fail=$((fail+1)); echo "FAIL: damaged-checkpoint message"; cat "$TMP/err" | head -3; }
check "curve after the fallback" "$(losses "$TMP/b")" "$(losses "$TMP/a")"
expect 1 "resume with other settings" -- "$YZ" train distill "${R[@]}" --lr 2e-4 --out "$TMP/b" --resume
grep -q "setting 'lr' was 0.0001" "$TMP/err" && pass=$((pass+1)) || { fail=$((fail+1)); echo "FAIL: resume-settings message"; }

# SIGTERM: the run saves a checkpoint and exits 0.
"$YZ" train distill "${D[@]}" --batch-tokens 128 --steps 400 --lambda 0 --out "$TMP/t" --json > "$TMP/t.json" 2> /dev/null &
pid=$!
for _ in $(seq 600); do
  [ -f "$TMP/t/train/log.jsonl" ] && [ "$(grep -c '"loss"' "$TMP/t/train/log.jsonl")" -ge 2 ] && break
  sleep 0.05
done
kill -TERM $pid; wait $pid; rc=$?
check "SIGTERM exit code" "$rc" "0"
check "SIGTERM stopped early" "$(python3 -c "import json; print(json.load(open('$TMP/t.json'))['stopped_early'])")" "True"
check "SIGTERM checkpoint" "$(ls "$TMP/t/train" | grep -c '^ckpt-')" "1"

# Data parallel: 2 Gloo processes against 1 with the same global batch.
P=("${D[@]}" --steps 2 --lambda 0 --batch-tokens 128)
expect 0 "1 process" -- "$YZ" train distill "${P[@]}" --out "$TMP/p1"
expect 0 "2 processes" -- "$YZ" train distill "${P[@]}" --nproc 2 --out "$TMP/p2"
check "2 vs 1 process losses within 1e-6" "$(python3 - "$TMP/p1" "$TMP/p2" <<'PY'
import json, sys
a, b = ([json.loads(l) for l in open(f"{d}/train/log.jsonl") if '"loss"' in l] for d in sys.argv[1:3])
ok = len(a) == len(b) == 2 and all(abs(x["loss"] - y["loss"]) <= 1e-6 for x, y in zip(a, b))
print(ok if ok else [(x["loss"], y["loss"]) for x, y in zip(a, b)])
PY
)" "True"
expect 1 "--nproc with an impossible split" -- "$YZ" train distill "${P[@]}" --nproc 3 --out "$TMP/p3"

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
