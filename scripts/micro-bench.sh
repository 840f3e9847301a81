#!/usr/bin/env bash
# Builds (Release) and runs the Google Benchmark micro-benchmarks beside the hot
# kernels: decode, SGD update, the session neighbours' reads, top-N vs the bare
# product, store commit.
# Extra arguments go to every benchmark (e.g. --benchmark_format=json).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/build.sh >/dev/null
for b in decoder_bench sgd_bench session_neighbors_bench topn_bench store_bench; do
  build/micro/$b "$@"
done
