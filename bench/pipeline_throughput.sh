#!/usr/bin/env bash
# Preliminary pipeline throughput: events/s from the events topic to durable
# state (RocksDB commit) with lists published, on the embedded broker.
#   bench/pipeline_throughput.sh [EVENTS] [USERS] [ITEMS]
# Events are produced first (within the embedded broker's ~5 MB per partition),
# then one `streamrec run` consumes them; the rate is measured between its
# partition assignment and its last commit.
set -euo pipefail
cd "$(dirname "$0")/.."
events=${1:-200000}
users=${2:-50000}
items=${3:-20000}
bin=build/streamrec
work=$(mktemp -d -t streamrec-bench-XXXX)
trap 'kill $broker_pid 2>/dev/null || true; rm -rf "$work"' EXIT

$bin broker --partitions 4 >"$work/broker.out" 2>/dev/null &
broker_pid=$!
for _ in $(seq 50); do [ -s "$work/broker.out" ] && break; sleep 0.1; done
bootstrap=$(head -1 "$work/broker.out")
$bin generate --users "$users" --items "$items" --events "$events" --out "$work/events.jsonl" 2>/dev/null
$bin produce --bootstrap "$bootstrap" --file "$work/events.jsonl" 2>/dev/null
${PERF:-} /usr/bin/time -f "%M" -o "$work/rss" $bin run --bootstrap "$bootstrap" --data-dir "$work/data" \
  --exit-when-idle-ms 2000 --set pipeline.status_interval_s=0 --set log_level=info 2>"$work/run.log"
python3 - "$work/run.log" "$events" "$work/rss" <<'PY'
import datetime, re, sys
log, events, rss = open(sys.argv[1]).read().splitlines(), int(sys.argv[2]), int(open(sys.argv[3]).read().split()[-1])
ts = lambda l: datetime.datetime.fromisoformat(l.split()[0])
start = next(ts(l) for l in log if "assigned events/" in l)
idle = next(l for l in log if "idle for" in l)
end = ts(idle) - datetime.timedelta(milliseconds=int(re.search(r"idle for (\d+)", idle).group(1)))
secs = (end - start).total_seconds()
print(f"events: {events}, wall: {secs:.2f} s, pipeline: {events / secs:,.0f} events/s, peak RSS: {rss / 1024:.0f} MB")
PY
