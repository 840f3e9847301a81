#!/usr/bin/env bash
# Installs the dependencies and builds a Release binary at build/streamrec.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
# ccache (its cache in ~/.cache/ccache, outside the repository; paths hashed
# relative to the clone): a clean clone rebuilds what an earlier build on this
# machine compiled in seconds.
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release "-DCMAKE_CXX_COMPILER_LAUNCHER=env;CCACHE_BASEDIR=$PWD;ccache" >/dev/null
cmake --build build --parallel "$(nproc)"
