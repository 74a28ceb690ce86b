#!/usr/bin/env bash
# Prepares .gpu/ (git-ignored) for runs on the lent GPU machine, which has CUDA, PyTorch,
# transformers and tokenizers but none of our Debian build dependencies and no network:
#   .gpu/prefix/  headers, shared libraries and CMake configs of nlohmann-json, CLI11, PCRE2,
#                 utf8proc, liblzma, cpp-httplib (+ OpenSSL, zlib, brotli), GoogleTest's sources
#   .gpu/data/    the shared inputs the GPU scripts read (tokenizers, 10 MB corpus slice, ...)
# Carry it with the run: carry=[".gpu"]. Size stays well under the 64 MiB limit.
set -euo pipefail
cd "$(dirname "$0")/.."
SHARED=${YZ_SHARED:-../shared}
P=.gpu/prefix
rm -rf .gpu && mkdir -p $P/include $P/lib $P/share/cmake .gpu/data
cp -r /usr/include/nlohmann /usr/include/CLI $P/include/
cp /usr/include/pcre2.h /usr/include/utf8proc.h /usr/include/lzma.h $P/include/
cp -r /usr/include/lzma $P/include/
cp -r /usr/share/cmake/nlohmann_json /usr/share/cmake/CLI11 $P/share/cmake/
for lib in libpcre2-8.so.0 libutf8proc.so.2 liblzma.so.5; do
  cp -L /usr/lib/x86_64-linux-gnu/$lib $P/lib/ && ln -s $lib $P/lib/${lib%.so.*}.so
done
# cpp-httplib (Debian builds it as a library) and what its header includes and its library
# needs: OpenSSL, zlib and brotli headers; brotli libraries; OpenSSL 3 libraries kept apart
# (gpu_run.sh uses them only where the machine has no libssl.so.3 of its own).
cp /usr/include/httplib.h /usr/include/zlib.h /usr/include/zconf.h $P/include/
cp -r /usr/include/brotli /usr/include/openssl $P/include/
cp /usr/include/x86_64-linux-gnu/openssl/*.h $P/include/openssl/
cp -L /usr/lib/x86_64-linux-gnu/libcpp-httplib.so.0.11 $P/lib/ && ln -s libcpp-httplib.so.0.11 $P/lib/libcpp-httplib.so
for lib in libbrotlicommon.so.1 libbrotlidec.so.1 libbrotlienc.so.1; do cp -L /usr/lib/x86_64-linux-gnu/$lib $P/lib/; done
mkdir -p $P/lib-ssl
cp -L /usr/lib/x86_64-linux-gnu/libssl.so.3 /usr/lib/x86_64-linux-gnu/libcrypto.so.3 $P/lib-ssl/
cp -r /usr/src/googletest $P/googletest
cp "$SHARED/data/tokenizers/qwen3_tokenizer.json.xz" .gpu/data/
cp "$SHARED/data/models/stories260K/tok512.model" "$SHARED/data/models/stories260K/stories260K.bin" .gpu/data/
cp "$SHARED/data/eval_general/wikitext2_raw_test.txt" .gpu/data/
xz -dc "$SHARED/data/corpus/pretrain.txt.xz" | head -c 10500000 | xz -1 > .gpu/data/pretrain_10mb.txt.xz
du -sh .gpu
