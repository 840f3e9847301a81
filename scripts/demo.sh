#!/usr/bin/env bash
# The main job end to end: install, build, start the embedded broker, run
# streamrec on it, feed it generated shop traffic, show refreshed lists as an
# independent consumer (kcat) reads them, and shut everything down cleanly.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/build.sh

work=$(mktemp -d -t streamrec-demo-XXXX)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

echo "== starting the embedded broker"
build/streamrec broker --partitions 4 >"$work/broker.out" 2>"$work/broker.log" &
pids+=($!)
for _ in $(seq 50); do [ -s "$work/broker.out" ] && break; sleep 0.1; done
bootstrap=$(head -1 "$work/broker.out")
echo "   bootstrap: $bootstrap"

echo "== starting streamrec run (state in $work/data)"
build/streamrec run --bootstrap "$bootstrap" --data-dir "$work/data" --set pipeline.status_interval_s=2 \
  2>"$work/run.log" &
run_pid=$!
pids+=("$run_pid")

echo "== feeding a catalog and 50,000 generated events (2,000 users, 3,000 items, 8 taste segments)"
build/streamrec generate --bootstrap "$bootstrap" --users 2000 --items 3000 --events 50000 --rate 10000 \
  --catalog "$work/catalog.jsonl" --catalog-topic catalog

echo "== waiting for the pipeline to catch up"
for _ in $(seq 60); do
  grep -q "applied 50000" "$work/run.log" 2>/dev/null && break
  sleep 1
done
grep "status:" "$work/run.log" | tail -3 | sed 's/^/   /'

echo "== three refreshed lists, as kcat reads them from the recommendations topic"
kcat -b "$bootstrap" -C -t recommendations -o -1 -c 3 -q -e -f 'key %k: %s\n' | cut -c1-400

# The latest record of KEY on TOPIC, waiting up to 30 s for one: trending is
# rebuilt every surfaces.trending_interval_s (10 s), longer than the traffic takes.
latest_record() {
  local topic=$1 key=$2 value=""
  for _ in $(seq 30); do
    value=$(kcat -b "$bootstrap" -C -t "$topic" -q -e -f '%k %s\n' | grep "^$key " | tail -1 | cut -d' ' -f2- || true)
    [ -n "$value" ] && break
    sleep 1
  done
  if [ -z "$value" ]; then
    echo "demo: no '$key' record on $topic after 30 s; the pipeline's log ends:" >&2
    tail -5 "$work/run.log" >&2
    return 1
  fi
  echo "$value" | cut -c1-300
}

echo "== the item surfaces: what is similar to i8, and what is trending"
latest_record similar-items i8
latest_record trending global

echo "== i8 goes out of stock: every list that held it is refreshed without it"
echo '{"item_id":"i8","in_stock":false}' >"$work/out-of-stock.jsonl"
build/streamrec produce --bootstrap "$bootstrap" --catalog "$work/out-of-stock.jsonl"
sleep 3
kcat -b "$bootstrap" -C -t recommendations -q -e -f '%s\n' | python3 -c '
import json, sys
latest = {}
for line in sys.stdin:
    p = json.loads(line)
    latest[p["user_id"]] = p
held = sum(any(i["item_id"] == "i8" for i in p["items"]) for p in latest.values())
refreshed = sum(p["source"]["offset"] == -1 for p in latest.values())
print(f"   {held} current lists hold i8; {refreshed} were refreshed by the catalog change")'

echo "== did it learn the planted taste segments? (user uK and item iN share a segment when K % 8 == N % 8)"
kcat -b "$bootstrap" -C -t recommendations -q -e -f '%s\n' | python3 -c '
import json, sys
latest = {}
for line in sys.stdin:
    p = json.loads(line)
    latest[p["user_id"]] = p
shares = [sum(int(i["item_id"][1:]) % 8 == int(u[1:]) % 8 for i in p["items"]) / max(1, len(p["items"]))
          for u, p in latest.items()]
print(f"   {len(latest)} users with lists; on average {100 * sum(shares) / len(shares):.0f} % of their items"
      f" come from their own segment (chance: 12.5 %)")'

echo "== stopping streamrec (SIGTERM: commit, flush, leave the group)"
kill -TERM "$run_pid"
wait "$run_pid" && echo "   exited cleanly"
tail -1 "$work/run.log" | sed 's/^/   /'

echo "== stored state"
build/streamrec state --data-dir "$work/data" | sed 's/^/   /'
