#!/usr/bin/env bash
# Installs the dependencies, builds, and runs the whole test suite through ctest:
# unit tests of every module and end-to-end tests against the embedded broker
# with independent Kafka clients (kafka-python, kcat).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/build.sh
ctest --test-dir build --output-on-failure --timeout 900 "$@"
