#!/usr/bin/env bash
# Prepares .gpu/ (git-ignored) for runs on the lent GPU machine, which has CUDA, PyTorch,
# transformers and tokenizers but none of our Debian build dependencies and no network:
#   .gpu/prefix.tar.xz  headers, shared libraries and CMake configs of nlohmann-json, CLI11,
#                 PCRE2, utf8proc, liblzma, cpp-httplib (+ OpenSSL, zlib, brotli), GoogleTest's
#                 sources (xz: 4 MB instead of 12; gpu_run.sh unpacks it)
#   .gpu/data/    the shared inputs the GPU scripts read (tokenizers, the first 14.5M characters
#                 of the pretraining corpus, evaluation sets, the mla_conversion.md §13
#                 protocol's calibration, selection and evaluation texts)
# Carry it with the run: carry=[".gpu"]. With the tracked files it stays under the 64 MiB limit.
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
# `youzhi eval`: the benchmark files its tests, goldens and benchmark read (gpu_run.sh unpacks
# them into ../shared/data, the layout the tests expect; wikitext2 travels as above).
cp "$SHARED/data/tokenizers/qwen3_tokenizer_config.json" .gpu/data/
tar -C "$SHARED/data" -cJf .gpu/data/eval_data.tar.xz fin_eval/cfa fin_eval/cflue_zh \
  fin_eval/financeiq_zh fin_eval/fineval_zh fin_eval/finlora \
  fin_eval/financial_phrasebank_v1.0/Sentences_50Agree.txt
# Training (the pipeline's GKD reads 3M tokens, about 13.4M characters; bench/run_heal.sh) and
# calibration (gpu_run.sh cuts its 10.5 MB slice from this): a prefix of the corpus the
# in-house model was pretrained on; the whole 18 MB file does not fit the carry.
# (xz stops on SIGPIPE once head has its bytes: not a failure under pipefail)
{ xz -dc "$SHARED/data/corpus/pretrain.txt.xz" || true; } | head -c 14500000 | xz -9 -T2 > .gpu/data/pretrain.txt.xz
# The §13 protocol (README "Conversion check"): calibration = pretrain.txt characters 30M–32M;
# selection = characters 40.0M–40.5M plus the first 500k characters of fin_domain.txt (unseen
# financial text); evaluation = the first 400k characters of wikitext-2 test (CRLF -> LF) and of
# the held-out SEC filings.
python3 - "$SHARED/data" .gpu/data <<'PY'
import lzma, sys
src, out = sys.argv[1], sys.argv[2]
pre = lzma.open(f"{src}/corpus/pretrain.txt.xz", "rt", encoding="utf-8").read()
fin = lzma.open(f"{src}/corpus/fin_domain.txt.xz", "rt", encoding="utf-8").read(600_000)
sec = lzma.open(f"{src}/corpus/fin_heldout_sec.txt.xz", "rt", encoding="utf-8").read(500_000)
wiki = open(f"{src}/eval_general/wikitext2_raw_test.txt", encoding="utf-8", newline="").read()
texts = {"calib_2m": pre[30_000_000:32_000_000], "select_1m": pre[40_000_000:40_500_000] + fin[:500_000],
         "wiki400k_lf": wiki[:400_000].replace("\r\n", "\n"), "sec400k": sec[:400_000]}
for name, text in texts.items():
    with lzma.open(f"{out}/{name}.txt.xz", "wt", encoding="utf-8", preset=1) as f:
        f.write(text)
PY
# `youzhi pipeline` (recipes/): the held-out SEC filings its ppl_sec task reads whole.
cp "$SHARED/data/corpus/fin_heldout_sec.txt.xz" .gpu/data/
tar -C .gpu -cJf .gpu/prefix.tar.xz prefix && rm -rf $P
du -sh .gpu
