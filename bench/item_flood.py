#!/usr/bin/python3
"""A flood of new item ids against a fixed catalogue, through `streamrec run` with
its shipped defaults (docs/BENCHMARKS.md, "A flood of new item ids").

Three backlogs of the same users and size are produced before the run starts,
each to its own broker: one whose items come from a fixed catalogue, one where
half the events name an item never seen before (a bot among the shoppers), one
where every event does (a bad producer). Each is replayed by a fresh `streamrec
run`; the figures are the floods' events/s as ratios of the fixed catalogue's,
measured in the same invocation, with each run's peak RSS.

    bench/item_flood.py build/streamrec [--events N] [--broker embedded|kafka] [--set KEY=VALUE ...]

`--set` overrides are passed to both runs and printed beside the figures. On the
embedded broker each partition keeps ~5 MB, so a backlog is spread over
enough partitions to stay whole (checked: the run's lost-events count must be 0).
"""

import argparse
import csv
import os
import random
import re
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "e2e"))
from bench_broker import BenchBroker  # noqa: E402

IDLE_MS = 3000
# A backlog's bytes per embedded partition at most (its log keeps ~5 MB).
PARTITION_BYTES = 3_500_000


def write_log(path, events, users, items, junk_share, seed):
    """Items drawn uniformly from `items`, but a share `junk_share` of the events name a new id each."""
    rng = random.Random(seed)
    size = 0
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["ts", "user", "item", "type"])
        for i in range(events):
            item = f"junk-{i}" if rng.random() < junk_share else f"i{rng.randrange(items)}"
            row = [1_700_000_000 + i // 1000, f"u{rng.randrange(users)}", item, "click"]
            w.writerow(row)
            size += sum(len(str(x)) for x in row) + 60  # JSON on the topic is larger than CSV
    return size


def replay(streamrec, backend, log_path, work, overrides):
    """Produces the log, then times `streamrec run` over it: (events/s, peak RSS MB, applied, lost)."""
    subprocess.run([streamrec, "produce", "--bootstrap", backend.bootstrap, "--file", log_path],
                   check=True, capture_output=True, timeout=900)
    sets = [x for kv in overrides for x in ("--set", kv)]
    cmd = [streamrec, "run", "--bootstrap", backend.bootstrap, "--data-dir", os.path.join(work, "data"),
           "--exit-when-idle-ms", str(IDLE_MS), "--set", "http.listen=127.0.0.1:0", *sets]
    err_path = os.path.join(work, "run.log")
    with open(err_path, "w") as err:
        started = time.time()
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.time() - started - IDLE_MS / 1000
    with open(err_path) as f:
        text = f.read()
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"streamrec run failed:\n{text[-3000:]}")
    applied = sum(int(m) for m in re.findall(r"(\d+) events applied in total", text)[-1:])
    lost = text.count("those events are lost")
    return applied / wall, usage.ru_maxrss / 1024, applied, lost, text


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("streamrec")
    ap.add_argument("--events", type=int, default=200_000)
    ap.add_argument("--users", type=int, default=20_000)
    ap.add_argument("--catalogue", type=int, default=10_000, help="items of the fixed-catalogue run")
    ap.add_argument("--broker", choices=["embedded", "kafka"], default="embedded")
    ap.add_argument("--set", action="append", default=[], dest="overrides", metavar="KEY=VALUE")
    args = ap.parse_args()
    results = {}
    runs = (("fixed catalogue", 0.0), ("a new id in half the events", 0.5), ("a new id in every event", 1.0))
    for name, junk_share in runs:
        work = tempfile.mkdtemp(prefix="streamrec-flood-")
        log_path = os.path.join(work, "events.csv")
        size = write_log(log_path, args.events, args.users, args.catalogue, junk_share, seed=11)
        partitions = 8 if args.broker == "kafka" else max(8, -(-size // PARTITION_BYTES))
        backend = BenchBroker(args.broker, args.streamrec, partitions)
        try:
            rate, rss, applied, lost, text = replay(args.streamrec, backend, log_path, work, args.overrides)
        finally:
            backend.stop()
            subprocess.run(["rm", "-rf", work])
        if applied != args.events or lost:
            sys.exit(f"{name}: applied {applied} of {args.events} events, {lost} lost:\n{text[-3000:]}")
        items_line = re.findall(r"status: .*(items \d+)", text)
        results[name] = (rate, rss)
        print(f"{name:28} {rate:9,.0f} events/s  peak RSS {rss:6,.0f} MB  ({partitions} partitions, {args.broker})"
              + (f"  {items_line[-1]}" if items_line else ""), flush=True)
    fixed = results["fixed catalogue"][0]
    for name, _ in runs[1:]:
        print(f"{name} / fixed catalogue, throughput: {results[name][0] / fixed:.2f} (target >= 0.5)")
    print(f"settings: streamrec run defaults" + (f", overrides: {' '.join(args.overrides)}" if args.overrides else ""))


if __name__ == "__main__":
    main()
