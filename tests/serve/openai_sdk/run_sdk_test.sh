#!/usr/bin/env bash
# Runs sdk_test.mjs (the official OpenAI Node.js SDK) against `youzhi serve` on the bundled
# model. The SDK (no dependencies) is vendored as npm's tarball and unpacked into a temporary
# node_modules: the test needs node but no network. Exits 77 (skipped) without node.
# Usage: run_sdk_test.sh path/to/youzhi REPO_ROOT
source "$(dirname "$0")/../../cli_lib.sh"
source "$(dirname "$0")/../serve_lib.sh"
HERE=$(cd "$(dirname "$0")" && pwd)
command -v node > /dev/null || { echo "node not found: skipped"; exit 77; }
mkdir -p "$TMP/sdk/node_modules/openai"
tar -xzf "$HERE"/openai-*.tgz -C "$TMP/sdk/node_modules/openai" --strip-components=1
cp "$HERE/sdk_test.mjs" "$TMP/sdk/"
start_server sdk "$MODEL" --served-model-name yz-16m --api-key sk-sdk-test || exit 1
node "$TMP/sdk/sdk_test.mjs" "http://127.0.0.1:$PORT" yz-16m sk-sdk-test
rc=$?
stop_server TERM
[ $rc -eq 0 ] || { echo "FAIL: SDK tests"; tail -20 "$TMP/sdk.log"; exit 1; }
[ $SERVER_RC -eq 0 ] || { echo "FAIL: SIGTERM exit $SERVER_RC"; exit 1; }
echo "node $(node --version), openai $(node -p "require('$TMP/sdk/node_modules/openai/package.json').version")"
