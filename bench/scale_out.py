#!/usr/bin/python3
"""One instance against a group of N on the same log (docs/BENCHMARKS.md, "Scale-out",
issue 25): what more instances cost in model quality, item state and CPU.

    bench/scale_out.py build/streamrec --events LOG [--instances 3] [--partitions 4]
        [--broker embedded|kafka] [--rate 2000] [--set KEY=VALUE ...] [--json] [--keep]

With --instances 1 the "group" is one instance too: two single instances against
each other, how far two runs over the same log differ by themselves (the noise floor).

A group of N `streamrec run` (consumer group scale-N, its own state changelog and
item updates topic) starts on an empty `events` topic; once every member owns a
partition and the assignment has settled, the log (the datasets' CSV or events-topic
JSON lines) is loaded with `streamrec produce --rate` (else the first member to join
consumes most of it alone; paced, as a shop's traffic comes: loaded at once, the
whole log is learned in the second or two that the members' item updates take to
reach each other). Then one `streamrec run` (group scale-one) consumes the same log,
loaded again at the same rate (both runs start from the topic's end:
kafka.start_from=latest, an override). Each run is stopped (SIGTERM: a
graceful stop) once its members' /metrics show the log consumed (no lag, the
applied count steady), no list owed and every item update record read by every
other member. Reported per run:

- live recall@20 and mrr@20: the pipeline's own prequential test of the live
  stream (every scored event is tested: pipeline.quality_sample=1 and
  quality_max_per_s=0, printed as overrides), pooled over the group's instances;
- item state per instance: the events counted on items and the sum of the
  co-occurrence rows (`streamrec state --json`), as a share of the single
  instance's: 1.00 when every instance's item side learned from all the traffic;
- CPU per applied event: the instances' user + system time over the events they
  applied, over the processes' whole lives (rusage: start-up, the group forming,
  the stop included) and while the log streamed (/proc/PID/stat from the moment
  the log starts loading to the drained state);
- the item surfaces: each run's latest similar-items and trending records (split by
  the topics' offsets between the runs), compared key by key as sets of their top 20.

Nothing else is overridden: the rest is the configuration `streamrec run` ships.
"""

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from bench_broker import BenchBroker  # noqa: E402
from harness import metrics  # noqa: E402
from real_kafka import free_port  # noqa: E402

QUALITY = re.compile(r"live quality this run: recall@(\d+) ([0-9.]+), mrr@\d+ ([0-9.]+) over (\d+) sampled")
# Every scored event tested; each run reads only the copy of the log loaded for it; the
# item surfaces published again within a second of their items' last change (so that
# each run's last records are of its drained state, compared below).
OVERRIDES = ["pipeline.quality_sample=1", "pipeline.quality_max_per_s=0", "kafka.start_from=latest",
             "surfaces.item_refresh_interval_s=1", "surfaces.trending_interval_s=1"]
SURFACES = ("similar-items", "trending")
BLEND = ("mf", "cooc", "recency", "short_recency", "session")  # the online blend's weights (/metrics)
TOP = 20


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def produce(streamrec, bootstrap, path, rate):
    cmd = [streamrec, "produce", "--bootstrap", bootstrap, "--file", path]
    if rate > 0:
        cmd += ["--rate", str(rate)]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=3600)
    if out.returncode != 0:
        raise RuntimeError(f"streamrec produce failed: {out.stderr[-2000:]}")
    log((out.stdout + out.stderr).strip())


def wait_for(what, check, timeout):
    end = time.time() + timeout
    while time.time() < end:
        if check():
            return
        time.sleep(0.5)
    raise RuntimeError(f"timed out after {timeout} s waiting for {what}")


class Member:
    """One `streamrec run` of the measured group, with its status port and log."""

    def __init__(self, args, bootstrap, group, k, work):
        self.data = os.path.join(work, f"{group}-{k}")
        self.port = free_port()
        self.err = open(os.path.join(work, f"{group}-{k}.log"), "w")
        cmd = [args.streamrec, "run", "--bootstrap", bootstrap, "--data-dir", self.data,
               "--set", f"kafka.group_id={group}", "--set", f"http.listen=127.0.0.1:{self.port}",
               "--set", "pipeline.status_interval_s=0"]
        for setting in OVERRIDES + args.set:
            cmd += ["--set", setting]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=self.err)

    def metrics(self):
        return metrics(self.port)

    def cpu_s(self):
        """The process's user + system time so far (/proc/PID/stat)."""
        with open(f"/proc/{self.proc.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self, streamrec):
        """SIGTERM (a graceful stop: everything applied is committed), then the run's figures."""
        self.proc.send_signal(signal.SIGTERM)
        _, status, usage = os.wait4(self.proc.pid, 0)
        self.proc.returncode = os.waitstatus_to_exitcode(status)
        self.err.close()
        with open(self.err.name) as f:
            text = f.read()
        if self.proc.returncode != 0:
            raise RuntimeError(f"an instance exited {self.proc.returncode}:\n{text[-3000:]}")
        m = QUALITY.search(text)
        state = json.loads(subprocess.run([streamrec, "state", "--data-dir", self.data, "--json"], check=True,
                                          capture_output=True, text=True, timeout=120).stdout)
        return {"cpu_s": usage.ru_utime + usage.ru_stime, "applied": state["applied_events"],
                "item_events": state["item_events"], "cooc_weight": state["cooc_weight"],
                "users": state["users"], "items": state["items"],
                "recall": float(m.group(2)) if m else 0.0, "mrr": float(m.group(3)) if m else 0.0,
                "scored": int(m.group(4)) if m else 0}


def total(members, metric):
    return sum(v for m in members for name, v in m.metrics().items() if name.split("{")[0] == metric)


def run_group(args, bootstrap, group, instances, work, before_consuming=None):
    """Runs `instances` members of `group` until the log is consumed and every list is out.
    With `before_consuming`, the group forms first (every member owns a partition, the
    assignment settled), then it is called (it loads the log)."""
    members = [Member(args, bootstrap, group, k, work) for k in range(instances)]
    started = time.time()
    try:
        if before_consuming:
            def formed():
                owned = [m.metrics().get("streamrec_assigned_partitions", 0) for m in members]
                return all(o > 0 for o in owned) and sum(owned) == args.partitions
            wait_for(f"{group}: every member assigned", formed, 180)
            time.sleep(2)
            wait_for(f"{group}: the assignment settled", formed, 60)
            log(f"{group}: formed in {time.time() - started:.1f} s")
            cpu_before = [m.cpu_s() for m in members]
            before_consuming()
        last = [-1.0]

        def drained():
            applied = total(members, "streamrec_events_applied_total")
            # Every item update record read by every other member, too.
            shared = (instances - 1) * total(members, "streamrec_item_records_published_total")
            done = (applied > 0 and applied == last[0] and total(members, "streamrec_lists_pending") == 0 and
                    total(members, "streamrec_consumer_lag_messages") == 0 and
                    total(members, "streamrec_uncommitted_seconds") == 0 and  # the last updates published
                    total(members, "streamrec_item_records_applied_total") == shared)
            last[0] = applied
            return done
        wait_for(f"{group}: the log consumed", drained, 1800)
        streaming_cpu = [m.cpu_s() - before for m, before in zip(members, cpu_before)] if before_consuming else None
        time.sleep(3)  # the item surfaces of the drained state published (refreshed within 1 s)
        item_lists = [total([m], "streamrec_item_lists_published_total") for m in members]
        blends = [{k: total([m], f"streamrec_blend_{k}_weight") for k in BLEND} for m in members]
    finally:
        out = [m.stop(args.streamrec) for m in members]
    for r, cpu in zip(out, streaming_cpu or []):
        r["streaming_cpu_s"] = cpu
    for r, n, b in zip(out, item_lists, blends):
        r["item_lists_published"] = int(n)
        r["blend"] = b
    log(f"{group}: {instances} instance(s) done in {time.time() - started:.1f} s")
    return out


def end_offsets(bootstrap, topic):
    from confluent_kafka import Consumer, TopicPartition
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "scale-out-bench", "enable.auto.commit": False})
    try:
        parts = c.list_topics(topic, timeout=10).topics[topic].partitions
        return {p: c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in parts}
    finally:
        c.close()


def latest_lists(bootstrap, topic, since=None, until=None):
    """{key: [its top item ids]} of each key's latest record whose offset is in [since,
    until) per partition; a copy the embedded broker's compactor made counts at its
    original's offset (its streamrec.compaction-copy header)."""
    from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition
    ends = end_offsets(bootstrap, topic)
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "scale-out-bench", "enable.auto.commit": False,
                  "auto.offset.reset": "earliest"})
    best = {}  # key -> (original offset, items or None)
    try:
        c.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in ends])
        left = {p for p, end in ends.items() if end > 0}
        deadline = time.time() + 60
        while left and time.time() < deadline:
            m = c.poll(0.5)
            if m is None or m.error():
                continue
            if m.offset() + 1 >= ends[m.partition()]:
                left.discard(m.partition())
            origin = m.offset()
            for name, value in m.headers() or []:
                if name == "streamrec.compaction-copy":
                    origin = int(value)
            p = m.partition()
            if origin < (since or {}).get(p, 0) or (until is not None and origin >= until.get(p, 0)):
                continue
            key = m.key().decode()
            if key not in best or origin > best[key][0]:
                items = [i["item_id"] for i in json.loads(m.value())["items"][:TOP]] if m.value() else None
                best[key] = (origin, items)
    finally:
        c.close()
    return {k: items for k, (origin, items) in best.items() if items is not None}


def overlap(group, single):
    """Per key in both (with a list in each): |top-20 in both| / the longer list; their mean and the share >= 0.9;
    and the keys only one of the runs published (a record, empty list or not: 0 and 0 when no item lacked an owner)."""
    shares = [len(set(a) & set(single[k])) / max(len(a), len(single[k]))
              for k, a in group.items() if a and single.get(k)]
    gaps = {"keys_only_group": len(group.keys() - single.keys()), "keys_only_single": len(single.keys() - group.keys())}
    if not shares:
        return {"keys": 0, "mean": 0.0, "at_least_0.9": 0.0, **gaps}
    return {"keys": len(shares), "mean": sum(shares) / len(shares),
            "at_least_0.9": sum(1 for x in shares if x >= 0.9) / len(shares), **gaps}


def pooled(runs):
    scored = sum(r["scored"] for r in runs)
    applied = sum(r["applied"] for r in runs)
    return {"instances": len(runs), "scored": scored, "applied": applied,
            "recall": sum(r["recall"] * r["scored"] for r in runs) / scored if scored else 0.0,
            "mrr": sum(r["mrr"] * r["scored"] for r in runs) / scored if scored else 0.0,
            "cpu_us_per_event": 1e6 * sum(r["cpu_s"] for r in runs) / applied if applied else 0.0,
            "streaming_cpu_us_per_event": 1e6 * sum(r.get("streaming_cpu_s", 0.0) for r in runs) / applied
            if applied else 0.0}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("streamrec")
    ap.add_argument("--events", required=True, help="event log (CSV with header ts,user,item,type, or JSON lines)")
    ap.add_argument("--instances", type=int, default=3)
    ap.add_argument("--partitions", type=int, default=4)
    ap.add_argument("--broker", choices=["embedded", "kafka"], default="embedded")
    ap.add_argument("--rate", type=float, default=2000,
                    help="events a second at which the group's log is loaded (0: at once); default 2000")
    ap.add_argument("--set", action="append", default=[], help="a further override, printed with the figures")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--keep", action="store_true", help="keep the members' data and logs (printed)")
    args = ap.parse_args()
    if args.instances < 1 or args.instances > args.partitions:
        ap.error("--instances must be 1..--partitions (1: two single instances, the figures' noise floor)")
    work = tempfile.mkdtemp(prefix="streamrec-scale-out-")
    groups = ("scale-one", f"scale-{args.instances}" if args.instances > 1 else "scale-one-again")
    broker = BenchBroker(args.broker, args.streamrec, args.partitions, os.path.join(work, "broker.log"),
                         groups=groups)
    try:
        # The group first, formed before the log arrives (else its first member
        # consumes most of it alone); the single instance then reads the same log.
        load = lambda: produce(args.streamrec, broker.bootstrap, args.events, args.rate)  # noqa: E731
        many = run_group(args, broker.bootstrap, groups[1], args.instances, work, before_consuming=load)
        split = {t: end_offsets(broker.bootstrap, t) for t in SURFACES}  # the group's records end here
        of_group = {t: latest_lists(broker.bootstrap, t, until=split[t]) for t in SURFACES}
        one = run_group(args, broker.bootstrap, groups[0], 1, work, before_consuming=load)
        surfaces = {t: overlap(of_group[t], latest_lists(broker.bootstrap, t, since=split[t])) for t in SURFACES}
    finally:
        broker.stop()
        if args.keep:
            log(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    single, group = pooled(one), pooled(many)
    ref = one[0]
    shares = [{"item_events": r["item_events"] / ref["item_events"] if ref["item_events"] else 0.0,
               "cooc_weight": r["cooc_weight"] / ref["cooc_weight"] if ref["cooc_weight"] else 0.0} for r in many]
    result = {"log": args.events, "broker": args.broker, "partitions": args.partitions, "rate": args.rate,
              "overrides": OVERRIDES + args.set, "one": single, "group": group,
              "recall_ratio": group["recall"] / single["recall"] if single["recall"] else 0.0,
              "cpu_ratio": group["cpu_us_per_event"] / single["cpu_us_per_event"] if single["cpu_us_per_event"] else 0.0,
              "streaming_cpu_ratio": (group["streaming_cpu_us_per_event"] / single["streaming_cpu_us_per_event"]
                                      if single["streaming_cpu_us_per_event"] else 0.0),
              "item_state_shares": shares, "surfaces": surfaces,
              "item_lists_published": [r["item_lists_published"] for r in many],
              "blend": {"one": ref["blend"], "group": [r["blend"] for r in many]}}
    if args.json:
        print(json.dumps(result, indent=1))
        return
    print(f"log {args.events}, {args.broker} broker, {args.partitions} partitions, the group's log loaded at "
          f"{args.rate:g} events/s; overrides: {' '.join(result['overrides'])}")
    for name, r in (("1 instance", single), (f"{args.instances} instances", group)):
        print(f"  {name:12}: live recall@20 {r['recall']:.4f}, mrr@20 {r['mrr']:.4f} over {r['scored']} scored "
              f"events; CPU per applied event ({r['applied']} applied) {r['cpu_us_per_event']:.1f} us over the "
              f"processes' lives, {r['streaming_cpu_us_per_event']:.1f} us while the log streamed")
    print(f"  recall ratio {result['recall_ratio']:.3f} (goal >= 0.97); CPU ratio (goal <= 1.3) "
          f"{result['cpu_ratio']:.2f} over the processes' lives, {result['streaming_cpu_ratio']:.2f} while the log "
          "streamed (from its first event to the drained state: start-up and stop left out)")
    for k, s in enumerate(shares):
        print(f"  instance {k}: item events {s['item_events']:.3f}, co-occurrence {s['cooc_weight']:.3f} "
              "of the single instance's (goal 1.000)")
    for topic, o in surfaces.items():
        print(f"  {topic}: the group's latest top-{TOP} of {o['keys']} keys against the single instance's: overlap "
              f"{o['mean']:.3f} on average, {o['at_least_0.9']:.1%} of keys at least 0.9 (goal: 0.9); keys only "
              f"the group published {o['keys_only_group']}, only the single instance {o['keys_only_single']}")
    def weights(b):
        return ", ".join(f"{k} {b[k]:.4g}" for k in BLEND)
    print(f"  online blend (the factorisation's weight, the others relative to it): 1 instance {weights(ref['blend'])}")
    for k, r in enumerate(many):
        print(f"    instance {k}: {weights(r['blend'])}")
    print(f"  item lists (similar-items and bought-together records) published per member: "
          f"{', '.join(str(n) for n in result['item_lists_published'])} (each item's by its partition's owner)")


if __name__ == "__main__":
    main()
