#!/usr/bin/env bash
# Fuzzes the event and catalog decoders with libFuzzer (clang, ASan + UBSan) for SECONDS
# (default 60), starting from the golden decoder cases. A crash, a sanitizer
# report or a broken property fails the run and leaves the input in build-fuzz/.
#   scripts/fuzz.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
if ! command -v clang++-14 >/dev/null || ! dpkg-query -W -f='${Status}' libclang-rt-14-dev 2>/dev/null | grep -q "ok installed"; then
  $SUDO apt-get install -y -qq --no-install-recommends clang-14 libclang-rt-14-dev >/dev/null
fi
./scripts/install-deps.sh
CC=clang-14 CXX=clang++-14 cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DSTREAMREC_FUZZ=ON -DSTREAMREC_SANITIZE=address "-DCMAKE_CXX_COMPILER_LAUNCHER=env;CCACHE_BASEDIR=$PWD;ccache" >/dev/null
cmake --build build-fuzz --target decoder_fuzz
corpus=build-fuzz/decoder-corpus
mkdir -p "$corpus"
n=0
while IFS=$'\t' read -r _ payload; do
  printf '%s' "$payload" >"$corpus/seed-$n"
  n=$((n + 1))
done < <(grep -v '^#' ingest/testdata/decoder_cases.tsv)
while IFS=$'\t' read -r _ _ payload; do
  printf '%s' "$payload" >"$corpus/seed-$n"
  n=$((n + 1))
done < <(grep -v '^#' ingest/testdata/catalog_cases.tsv)
cd build-fuzz
UBSAN_OPTIONS=halt_on_error=1 ./ingest/decoder_fuzz -max_total_time="$seconds" -max_len=4096 \
  -print_final_stats=1 decoder-corpus 2>&1 | tail -15
