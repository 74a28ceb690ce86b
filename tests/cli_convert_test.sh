#!/usr/bin/env bash
# The CLI contract of conversion, `bench convert` and the demo: reports, outputs that load,
# refused bad input that leaves no output.
# Usage: cli_convert_test.sh path/to/youzhi REPO_ROOT
source "$(dirname "$0")/cli_lib.sh"
printf 'line one\nline two\n' > "$TMP/t.txt"
if [ -d "$STORIES" ]; then
  expect 0 "import-llama2c" -- "$YZ" import-llama2c "$STORIES/stories260K.bin" "$STORIES/tok512.model" --out "$TMP/stories" --json
fi

# Conversion (small calibration so it stays quick).
CONV="--model $MODEL --calib $ROOT/data/demo/wikitext2_test_head.txt --calib-samples 8 --calib-len 64 --rope-dim 32 --kv-lora-rank 96 --freqfold 2"
expect 0 "convert" -- "$YZ" convert $CONV --out "$TMP/mla" --eval-file "$TMP/t.txt" --eval-ctx 4 --eval-chunks 1 --report "$TMP/report.json" --json
check "report kv after" "$(python3 -c "import json; print(json.load(open('$TMP/report.json'))['kv_elements_per_token']['after'])")" "1024"
check "report stages" "$(python3 -c "import json; print(sorted(json.load(open('$TMP/report.json'))['ppl']))")" "['final', 'original', 'partial_rope']"
# --json: stdout is the report alone; progress still reaches stderr (a pipeline stage's log).
check "convert --json stdout" "$(json_field "['kv_elements_per_token']['after']")" "1024"
check "convert --json progress on stderr" "$(grep -c '^converting: 8/8 layers' "$TMP/err")" "1"
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
# Issue 17 methods: whitened factorization, refits and distillation on converted inputs.
expect 0 "convert with every fit" -- "$YZ" convert $CONV --out "$TMP/fit" --factorization whitened --refit --local-steps 3 --fit-inputs converted --eval-file "$TMP/t.txt" --eval-ctx 4 --eval-chunks 1 --report "$TMP/fit.json" --json
check "fit report" "$(python3 -c "
import json; r=json.load(open('$TMP/fit.json')); f=r['fit']; l=r['layers'][3]['fit']
print(f['factorization'], f['refit'], f['local_steps'], f['inputs'], l['local']['steps'], l['refit']['steps'][0], l['error_local'] < l['error_factorized'])")" "whitened True 3 converted 3 input_projections True"
expect 0 "info on fitted" -- "$YZ" info "$TMP/fit" --json
check "fitted checkpoint complete" "$(json_field "['checkpoint_matches_config']")" "True"
expect 2 "convert bad factorization" -- "$YZ" convert $CONV --out "$TMP/bad" --factorization pca
expect 2 "convert bad fit inputs" -- "$YZ" convert $CONV --out "$TMP/bad" --refit --fit-inputs teacher
expect 1 "convert negative local steps" -- "$YZ" convert $CONV --out "$TMP/bad" --local-steps -2
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
  # --select is the selection split when given (it was ignored with --adaptive before 2026-11-30):
  # stories text selects with a far lower original NLL than held-out SOTU/SEC documents.
  expect 0 "convert --adaptive budget --select" -- "$YZ" convert $ST --select "$TMP/ev.txt" --select-samples 4 --select-len 64 --adaptive budget --kv-budget 0.5 --out "$TMP/st_budget_sel" --report "$TMP/st_budget_sel.json" --json
  check "adaptive selects on --select" "$(python3 -c "
import json; a=json.load(open('$TMP/st_budget.json'))['adaptive']['selection_nll']['original']; b=json.load(open('$TMP/st_budget_sel.json'))['adaptive']['selection_nll']['original']
print(b < a - 0.5)")" "True"
  expect 0 "info on adaptive" -- "$YZ" info "$TMP/st_budget" --json
  check "adaptive checkpoint complete" "$(json_field "['checkpoint_matches_config']")" "True"
  expect 0 "convert --adaptive fold --target stock" -- "$YZ" convert $ST --select-samples 4 --select-len 64 --adaptive fold --kv-budget 0.5 --target stock --plan-dtype bfloat16 --out "$TMP/st_fold"
  expect 1 "bad plan dtype" -- "$YZ" convert $ST --adaptive fold --kv-budget 0.5 --plan-dtype int3 --out "$TMP/st_bad2"
  # A budget plan for stock runtimes: every layer padded to the widest d_r and r.
  expect 0 "convert --adaptive budget --target stock" -- "$YZ" convert $ST --select-samples 4 --select-len 64 --adaptive budget --kv-budget 0.5 --target stock --out "$TMP/st_stock" --report "$TMP/st_stock.json" --json
  check "padded stock config" "$(python3 -c "
import json; c=json.load(open('$TMP/st_stock/config.json')); r=json.load(open('$TMP/st_stock.json'))
p=c['youzhi']['padded_from']; k=r['kv_elements_per_token']
print(c['kv_lora_rank'] == max(p['kv_lora_rank']), c['qk_rope_head_dim'] == max(p['qk_rope_head_dim']), k['after'] == 5 * (c['kv_lora_rank'] + c['qk_rope_head_dim']), k['unpadded'] == sum(p['kv_lora_rank']) + sum(p['qk_rope_head_dim']) <= k['after'])")" "True True True True"
  expect 0 "info on padded stock" -- "$YZ" info "$TMP/st_stock" --json
  check "padded checkpoint complete" "$(json_field "['checkpoint_matches_config']")" "True"
  expect 0 "bench convert" -- "$YZ" bench convert $ST --select "$ROOT/data/demo/wikitext2_test_head.txt" --select-samples 4 --select-len 64 --eval-file "$TMP/ev.txt" --eval-ctx 64 --eval-chunks 4 --kv-budget 0.5 --seeds 2 --factorization whitened --refit --out "$TMP/bench.json"
  check "bench methods and R" "$(python3 -c "
import json; r=json.load(open('$TMP/bench.json')); s=r['summary']
print(list(s), all('reduction_vs_uniform' in s[m] for m in list(s)[3:]), len(r['runs']), len({s[m]['kv_elements_per_token'] for m in s if m != 'original'}))")" "['original', 'transmla_default', 'uniform_best', 'adaptive_fold', 'adaptive_budget', 'uniform_best+whitened', 'uniform_best+whitened+refit', 'adaptive_budget+fit'] True 2 1"
  [ -s "$TMP/bench.md" ] && grep -q "<svg" "$TMP/bench.svg" && pass=$((pass+1)) || { fail=$((fail+1)); echo "FAIL: bench markdown/svg"; }
  expect 1 "bench refuses an existing result" -- "$YZ" bench convert $ST --select "$ROOT/data/demo/wikitext2_test_head.txt" --eval-file "$TMP/ev.txt" --kv-budget 0.5 --out "$TMP/bench.json"
  expect 1 "bench refuses selecting on the eval text" -- "$YZ" bench convert $ST --select "$TMP/ev.txt" --eval-file "$TMP/ev.txt" --kv-budget 0.5 --out "$TMP/bench2.json"
  expect 1 "bench bad budget" -- "$YZ" bench convert $ST --select "$TMP/t.txt" --eval-file "$TMP/ev.txt" --kv-budget 1.5 --out "$TMP/bench3.json"
fi
expect 2 "convert bad target" -- "$YZ" convert $CONV --out "$TMP/bad" --target vllm
expect 2 "convert bad freqfold list" -- "$YZ" convert $CONV --out "$TMP/bad" --freqfold 2,x
expect 1 "convert freqfold list of the wrong length" -- "$YZ" convert $CONV --out "$TMP/bad" --freqfold 2,4
expect 1 "convert bad q-lora rank" -- "$YZ" convert $CONV --out "$TMP/bad" --q-lora-rank 100000
[ ! -e "$TMP/bad" ] && pass=$((pass+1)) || { fail=$((fail+1)); echo "FAIL: refused convert left an output"; }

expect 0 "demo" -- "$YZ" demo --out "$TMP/demo"
grep -q "decode(encode(x)) == x: yes" "$TMP/out" && pass=$((pass+1)) || { fail=$((fail+1)); echo "FAIL: demo round trip"; }
# The pipeline's closing table: original, conversion and healed model, each scored on TFNS.
python3 - "$TMP/demo/table.json" <<'PY' && pass=$((pass+1)) || { fail=$((fail+1)); echo "FAIL: demo table"; }
import json, sys
t = json.load(open(sys.argv[1]))
rows = {r["model"]: r for r in t["rows"]}
assert list(rows) == ["original", "adaptive conversion", "adaptive + GKD"], list(rows)
assert rows["adaptive conversion"]["concurrency_x"] == 2.0
for r in rows.values():
    assert r["ppl_wikitext"] > 1 and 0 <= r["acc"]["tfns"]["loglik"] <= 1, r
PY
expect 0 "demo's healed model generates" -- "$YZ" generate "$TMP/demo/adaptive_gkd/model" --prompt "The bank" --max-new-tokens 4
expect 1 "demo refuses an existing --out" -- "$YZ" demo --out "$TMP/demo"

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]

