#!/usr/bin/env bash
# One-command setup on Debian 12: installs missing build dependencies (apt-get, when root; else
# prints the exact command), configures a Release build in build/ and builds build/youzhi.
# Idempotent: a second run installs nothing and rebuilds incrementally.
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(
  build-essential cmake python3 xz-utils
  libtorch-dev            # tensor library (CPU build of libtorch 1.13)
  libopenblas0-pthread    # fast BLAS for it (the default reference BLAS is ~30x slower)
  nlohmann-json3-dev libcli11-dev libcpp-httplib-dev
  libpcre2-dev libutf8proc-dev liblzma-dev
  libgtest-dev libbenchmark-dev
  libgloo-dev             # Gloo headers for c10d data parallelism on CPU (youzhi train --nproc)
  clang libclang-rt-14-dev   # libFuzzer targets (safetensors header, templates, server requests)
  nodejs curl                # the server's tests: the OpenAI Node.js SDK (vendored), README curls
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  cmd="apt-get update && apt-get install -y --no-install-recommends ${missing[*]}"
  if [ "$(id -u)" -eq 0 ]; then
    echo "setup: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}"
  else
    echo "setup: missing Debian packages. Run as root:" >&2
    echo "  sudo sh -c '$cmd'" >&2
    exit 1
  fi
fi

if [ ! -f build/CMakeCache.txt ]; then
  cmake -S . -B build -DCMAKE_BUILD_TYPE=Release
fi
cmake --build build -j"$(nproc)"
echo "setup: built $(pwd)/build/youzhi"
