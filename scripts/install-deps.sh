#!/usr/bin/env bash
# Installs everything streamrec needs to build, run and test on Debian 12.
# Idempotent: packages already present are skipped by apt-get.
set -euo pipefail

PACKAGES=(
  build-essential cmake pkg-config ninja-build ccache
  librdkafka-dev librocksdb-dev libeigen3-dev libspdlog-dev libfmt-dev
  catch2 libsimdjson-dev libyaml-cpp-dev libcli11-dev libbenchmark-dev libcpp-httplib-dev libhnswlib-dev
  prometheus-cpp-dev
  kcat python3 python3-kafka python3-confluent-kafka docker-compose time
  openjdk-17-jre-headless maven
  chromium chromium-driver
)

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#PACKAGES[@]} packages present"
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "install-deps: done"
