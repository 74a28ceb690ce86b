# Shared by the serve test scripts: start `youzhi serve` on a free port and stop it.
# Sourced after tests/cli_lib.sh (which provides YZ, ROOT, MODEL, TMP, expect/check).

# start_server NAME ARGS...: runs `youzhi serve ARGS --port 0` in the background, logging to
# $TMP/NAME.log; sets SERVER_PID and PORT once the model is loaded (or fails after 120 s).
start_server() {
  local name=$1; shift
  "$YZ" serve "$@" --port 0 > "$TMP/$name.log" 2>&1 &
  SERVER_PID=$!
  PORT=""
  for _ in $(seq 1200); do
    grep -q '^Serving ' "$TMP/$name.log" && break
    kill -0 $SERVER_PID 2>/dev/null || break
    sleep 0.1
  done
  PORT=$(sed -n 's#^Listening on http://[^:]*:\([0-9]*\).*#\1#p' "$TMP/$name.log")
  if ! grep -q '^Serving ' "$TMP/$name.log"; then
    echo "FAIL: server $name did not start"; cat "$TMP/$name.log"; fail=$((fail+1)); return 1
  fi
}

# stop_server SIGNAL: sends the signal and waits (at most 30 s); sets SERVER_RC.
stop_server() {
  kill -"$1" $SERVER_PID
  for _ in $(seq 300); do kill -0 $SERVER_PID 2>/dev/null || break; sleep 0.1; done
  if kill -0 $SERVER_PID 2>/dev/null; then kill -9 $SERVER_PID; fi
  wait $SERVER_PID; SERVER_RC=$?
}
