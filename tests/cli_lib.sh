# Shared setup of the CLI contract scripts (cli_test.sh, cli_convert_test.sh): arguments,
# a temporary directory, pass/fail counters and the expect/check/json_field helpers.
# Sourced with: path/to/youzhi REPO_ROOT
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

