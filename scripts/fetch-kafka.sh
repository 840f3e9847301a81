#!/usr/bin/env bash
# Fetches the Apache Kafka broker the real-Kafka tests run (version pinned in
# tests/kafka/pom.xml, or the VERSION given) from Maven Central into a cache
# outside the repository, and prints the cache directory (its lib/ holds the
# jars). Idempotent: a complete cache is reused without asking Maven.
#   scripts/fetch-kafka.sh [VERSION]
#   STREAMREC_CACHE  cache root (default ${XDG_CACHE_HOME:-~/.cache}/streamrec)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
pom=$root/tests/kafka/pom.xml
version=${1:-$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$pom")}
cache=${STREAMREC_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/streamrec}/kafka-$version
if [ -f "$cache/complete" ] && cmp -s "$pom" "$cache/pom.xml"; then
  echo "$cache"
  exit 0
fi
for tool in java mvn; do
  if ! command -v "$tool" >/dev/null; then
    echo "fetch-kafka: $tool is missing (scripts/install-deps.sh installs it)" >&2
    exit 1
  fi
done
echo "fetch-kafka: fetching Apache Kafka $version from Maven Central into $cache" >&2
rm -rf "$cache"
mkdir -p "$cache"
if ! mvn -q -B -f "$pom" dependency:copy-dependencies -Dkafka.version="$version" -DoutputDirectory="$cache/lib" >"$cache/mvn.log" 2>&1; then
  echo "fetch-kafka: Maven could not fetch org.apache.kafka:kafka_2.13:$version; its log:" >&2
  tail -30 "$cache/mvn.log" >&2
  exit 1
fi
cp "$pom" "$cache/"
touch "$cache/complete"
echo "$cache"
