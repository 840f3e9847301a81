#!/usr/bin/env bash
# Builds with sanitizers and runs the test suite under them:
#   scripts/sanitize.sh address   # ASan + UBSan (default)
#   scripts/sanitize.sh thread    # TSan
# Extra arguments go to ctest (e.g. -L unit). Build trees: build-asan/, build-tsan/.
set -euo pipefail
cd "$(dirname "$0")/.."
kind=${1:-address}
shift || true
case "$kind" in
  address) dir=build-asan ;;
  thread) dir=build-tsan ;;
  *) echo "usage: $0 [address|thread] [ctest args...]"; exit 2 ;;
esac
./scripts/install-deps.sh
cmake -S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSTREAMREC_SANITIZE="$kind" \
  "-DCMAKE_CXX_COMPILER_LAUNCHER=env;CCACHE_BASEDIR=$PWD;ccache" >/dev/null
cmake --build "$dir" --parallel "$(nproc)"
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
# Instrumented binaries run 2-5x slower: paced end-to-end tests send slower, so the
# pipeline still keeps up with the embedded broker's ~5 MB per partition.
export STREAMREC_E2E_RATE_SCALE=${STREAMREC_E2E_RATE_SCALE:-0.3}
# Shadow memory (TSan ~5-8x, ASan ~3x): end-to-end memory bounds scale by this.
export STREAMREC_E2E_MEMORY_SCALE=${STREAMREC_E2E_MEMORY_SCALE:-5}
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
# The store's crash test forks a child that opens RocksDB: allowed, it starts afresh.
# Suppressions: librdkafka's own bookkeeping and two hnswlib internals, each
# explained in the file. librdkafka's C11 threads and locks are seen through
# tests/sanitize/c11_threads_shim.cpp, linked into every TSan executable.
export TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1:die_after_fork=0:suppressions=$PWD/tests/sanitize/tsan.supp
ctest --test-dir "$dir" --output-on-failure --timeout 1800 "$@"
