#!/usr/bin/env bash
# `youzhi serve` and `youzhi bench serve` from the command line: usage errors, the README's curl
# examples (run as written, against a live server), `bench serve` against our server and
# against another OpenAI-compatible server, a full queue answered 503 at once, and SIGINT
# during a stream (the stream ends with finish_reason "abort", the server exits 0).
# Usage: serve_cli_test.sh path/to/youzhi REPO_ROOT
source "$(dirname "$0")/../cli_lib.sh"
source "$(dirname "$0")/serve_lib.sh"
HERE=$(cd "$(dirname "$0")" && pwd)

expect 2 "serve without MODEL" -- "$YZ" serve
expect 2 "serve bad flag" -- "$YZ" serve "$MODEL" --frobnicate
expect 1 "serve missing model" -- "$YZ" serve "$TMP/nope" --port 0
expect 1 "serve bad port" -- "$YZ" serve "$MODEL" --port 70000
expect 1 "serve missing chat template" -- "$YZ" serve "$MODEL" --port 0 --chat-template "$TMP/none.jinja"
expect 2 "bench serve without --base-url" -- "$YZ" bench serve
expect 2 "bench serve bad rate" -- "$YZ" bench serve --base-url http://127.0.0.1:1 --request-rate fast
expect 1 "bench serve bad url" -- "$YZ" bench serve --base-url ftp://x
expect 1 "bench serve unreachable" -- "$YZ" bench serve --base-url http://127.0.0.1:1 --num-prompts 1

start_server main "$MODEL" --served-model-name yz-16m --kv-cache-memory 0.25 || exit 1
grep -q "^CPU KV cache size: [0-9]* tokens" "$TMP/main.log" && pass=$((pass+1)) || { fail=$((fail+1)); echo "FAIL: KV cache line"; }
grep -q "^Maximum concurrency for 2048 tokens per request: [0-9.]*x" "$TMP/main.log" && pass=$((pass+1)) || { fail=$((fail+1)); echo "FAIL: concurrency line"; }
expect 1 "second server on the same port" -- "$YZ" serve "$MODEL" --port "$PORT"

# The README's curl examples, as written (they address localhost:8000).
awk '/<!-- serve-curl-begin -->/{on=1; next} /<!-- serve-curl-end -->/{on=0} on' "$ROOT/README.md" \
  | sed -n '/^```/,/^```/p' | grep -v '^```' > "$TMP/curl.sh"
n=$(grep -c '^curl' "$TMP/curl.sh")
[ "$n" -ge 5 ] && pass=$((pass+1)) || { fail=$((fail+1)); echo "FAIL: README has $n curl examples"; }
i=0
while IFS= read -r cmd; do
  i=$((i+1))
  out=$(eval "${cmd//localhost:8000/127.0.0.1:$PORT}" 2>&1); rc=$?
  if [ $rc -ne 0 ]; then fail=$((fail+1)); echo "FAIL: README curl $i exit $rc: $cmd"; echo "$out" | head -3; continue; fi
  # Each answers JSON (no error), Prometheus samples or an SSE stream ending in [DONE].
  if echo "$out" | grep -q '^data: '; then
    [ "$(echo "$out" | grep '^data: ' | tail -1)" == "data: [DONE]" ] && pass=$((pass+1)) || { fail=$((fail+1)); echo "FAIL: README curl $i: stream without [DONE]"; }
  elif echo "$out" | grep -q '^vllm:'; then
    pass=$((pass+1))
  else
    echo "$out" | python3 -c "import json,sys; j=json.load(sys.stdin); assert not isinstance(j, dict) or 'error' not in j, j" 2>/dev/null \
      && pass=$((pass+1)) || { fail=$((fail+1)); echo "FAIL: README curl $i: $out" | head -3; }
  fi
done < <(sed -e ':a' -e '/\\$/N; s/\\\n//; ta' "$TMP/curl.sh" | grep '^curl')

# bench serve against our server: random prompts (token ids) and a chat JSONL dataset.
expect 0 "bench serve random" -- "$YZ" bench serve --base-url "http://127.0.0.1:$PORT" --dataset random \
  --input-len 24 --output-len 8 --num-prompts 12 --request-rate 30 --max-concurrency 4 --ignore-eos \
  --goodput ttft:5000 tpot:1000 --metric-percentiles 50,99 --json --out "$TMP/bench.json"
check "bench completed" "$(json_field "['completed']")" "12"
check "bench failed" "$(json_field "['failed']")" "0"
check "bench input tokens" "$(json_field "['total_input_tokens']")" "288"
check "bench output tokens" "$(json_field "['total_output_tokens']")" "96"
check "bench goodput present" "$(json_field "['request_goodput'] is not None")" "True"
check "bench p99 ttft" "$(json_field "['p99_ttft_ms'] > 0")" "True"
check "bench p50 itl" "$(json_field "['p50_itl_ms'] > 0")" "True"
check "bench --out" "$(python3 -c "import json; print(json.load(open('$TMP/bench.json'))['completed'])")" "12"
expect 1 "bench --out refuses to overwrite" -- "$YZ" bench serve --base-url "http://127.0.0.1:$PORT" --num-prompts 1 --out "$TMP/bench.json"
printf '{"messages": [{"role": "user", "content": "What is a bond?"}], "output_len": 6}\n{"messages": [{"role": "user", "content": "Define equity."}]}\n' > "$TMP/chat.jsonl"
expect 0 "bench serve chat jsonl" -- "$YZ" bench serve --base-url "http://127.0.0.1:$PORT" --endpoint /v1/chat/completions \
  --dataset "$TMP/chat.jsonl" --output-len 5 --num-prompts 4
grep -q "^============ Serving Benchmark Result ============" "$TMP/out" && pass=$((pass+1)) || { fail=$((fail+1)); echo "FAIL: result block"; cat "$TMP/out"; }
grep -q "^Successful requests: *4 *$" "$TMP/out" && pass=$((pass+1)) || { fail=$((fail+1)); echo "FAIL: 4 chat requests"; }
stop_server TERM
check "SIGTERM exit" "$SERVER_RC" "0"

# bench serve against a server that is not ours.
rm -f "$TMP/stub_port"
python3 "$HERE/stub_openai_server.py" "$TMP/stub_port" & STUB=$!
for _ in $(seq 100); do [ -s "$TMP/stub_port" ] && break; sleep 0.1; done
expect 0 "bench serve other server" -- "$YZ" bench serve --base-url "http://127.0.0.1:$(cat "$TMP/stub_port")/" \
  --dataset random --tokenizer "$MODEL" --input-len 16 --output-len 7 --num-prompts 6 --json
check "other server completed" "$(json_field "['completed']")" "6"
check "other server output tokens counted" "$(json_field "['total_output_tokens'] >= 42")" "True"
expect 0 "bench serve other server, chat" -- "$YZ" bench serve --base-url "http://127.0.0.1:$(cat "$TMP/stub_port")" \
  --endpoint /v1/chat/completions --dataset random --tokenizer "$MODEL" --input-len 8 --output-len 3 --num-prompts 3 --json
check "other server chat completed" "$(json_field "['completed']")" "3"
kill $STUB; wait $STUB 2>/dev/null

# A full waiting queue is a 503 at once; SIGINT mid-stream aborts the stream and exits 0.
start_server busy "$MODEL" --max-num-seqs 1 --max-waiting 0 --shutdown-grace 1 || exit 1
curl -sN "http://127.0.0.1:$PORT/v1/completions" -H 'Content-Type: application/json' \
  -d '{"prompt": "A long story", "max_tokens": 1500, "stream": true, "ignore_eos": true}' > "$TMP/long.sse" &
CURL=$!
for _ in $(seq 100); do grep -q '^data: ' "$TMP/long.sse" && break; sleep 0.1; done
start=$(date +%s%N)
code=$(curl -s -o "$TMP/full.json" -w '%{http_code}' "http://127.0.0.1:$PORT/v1/completions" \
  -H 'Content-Type: application/json' -d '{"prompt": "x", "max_tokens": 2}')
ms=$(( ($(date +%s%N) - start) / 1000000 ))
check "queue full status" "$code" "503"
check "queue full at once" "$([ $ms -lt 1000 ] && echo yes || echo "no ($ms ms)")" "yes"
check "queue full error" "$(python3 -c "import json; print(json.load(open('$TMP/full.json'))['error']['code'])")" "server_overloaded"
stop_server INT
wait $CURL
check "SIGINT exit" "$SERVER_RC" "0"
check "stream aborted" "$(grep '"finish_reason":"abort"' -c "$TMP/long.sse")" "1"
check "stream ended" "$(tail -2 "$TMP/long.sse" | head -1)" "data: [DONE]"
grep -q "^Shutdown complete" "$TMP/busy.log" && pass=$((pass+1)) || { fail=$((fail+1)); echo "FAIL: shutdown line"; }

echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
