"""Crash consistency: while 200k events stream in, one `streamrec run` is SIGKILLed at
random moments and restarted each time, and another runs undisturbed on the same
stream. At the end both states must be equal (applied events, offsets, embedding
checksum), and each user's newest list must come from their last event.

The embedded broker keeps only about 5 MB per partition, so events are produced at a
steady rate while both pipelines consume, as a shop's traffic would arrive. On real
Kafka (STREAMREC_E2E_BROKER=kafka) the same, at the size STREAMREC_CRASH_EVENTS and
STREAMREC_CRASH_KILLS give (CI runs a shorter one there)."""

import json
import os
import random
import signal
import subprocess
import threading
import time

from kafka import KafkaProducer

import harness
from harness import log

EVENTS = int(os.environ.get("STREAMREC_CRASH_EVENTS", "200000"))
RATE = int(2500 * harness.RATE_SCALE)  # events/s: a killed instance's backlog stays far below the broker's retention
KILLS = int(os.environ.get("STREAMREC_CRASH_KILLS", "10"))


def run_args(bootstrap, data, group, recs):
    # Real Kafka's coordinator implements static membership (the default): a restarted
    # instance takes its partition back at once instead of after a rebalance.
    # On the embedded broker a restart rejoins as a new member once the killed one's session
    # (3 s here) has expired: the kills then fall while the stream still flows.
    static = (["--set", "kafka.static_membership=true"] if harness.BACKEND == "kafka" else
              ["--set", "kafka.consumer_properties={session.timeout.ms: 3000, heartbeat.interval.ms: 1000}"])
    return [harness.STREAMREC, "run", "--bootstrap", bootstrap, "--data-dir", data,
            "--set", f"kafka.group_id={group}", "--set", f"kafka.recommendations_topic={recs}",
            *harness.FAST_GROUP, *static]


def produce_paced(bootstrap, path, done):
    p = KafkaProducer(bootstrap_servers=bootstrap, linger_ms=20, batch_size=262144)
    start = time.time()
    with open(path) as f:
        for k, line in enumerate(f):
            if k % 2000 == 0:
                time.sleep(max(0.0, start + k / RATE - time.time()))
            p.send("events", key=json.loads(line)["user_id"].encode(), value=line.rstrip("\n").encode())
            if k % 4000 == 7:
                p.send("events", key=b"bad", value=b"{not json")
    p.flush()
    p.close()
    done.set()


def main():
    t = harness.Checks()
    work = harness.WorkDir("crash")
    # One partition: processing order, hence the model, is fully determined by the log.
    # 1 partition of thousands of users' lists: more than it keeps compacted (not what this tests).
    broker = harness.Broker(partitions=1, compaction=False, extra=["--group", "ref", "--group", "crash"])
    rng = random.Random(5)
    try:
        subprocess.run([harness.STREAMREC, "generate", "--users", "20000", "--items", "5000", "--events", str(EVENTS),
                        "--out", work("gen.jsonl")], check=True, capture_output=True)
        # Both publish to their own topics; the reference starts first and never stops.
        ref = subprocess.Popen(run_args(broker.bootstrap, work("ref"), "ref", "recs_ref"),
                               stdout=subprocess.DEVNULL, stderr=open(work("ref.log"), "w"))
        # The crash run publishes to the standard topic, which exists: restarts never wait on topic set-up.
        # Lists refreshed at most every 2 s per user: a kill often finds users owed a
        # list in the store, which the restarted instance must still publish.
        crash_cmd = run_args(broker.bootstrap, work("crash"), "crash", "recommendations") + [
            "--set", "emitter.min_refresh_interval_ms=2000"]
        crashy = subprocess.Popen(crash_cmd, stdout=subprocess.DEVNULL, stderr=open(work("crash0.log"), "w"))
        for name in ("ref.log", "crash0.log"):  # both have joined their groups (and waited out topic creation)
            if not harness.wait_for_text(work(name), "assigned events/0", timeout=30):
                raise RuntimeError(f"{name}: the instance was not assigned its partition")
        done = threading.Event()
        producer = threading.Thread(target=produce_paced, args=(broker.bootstrap, work("gen.jsonl"), done))
        producer.start()

        kills = 0
        while kills < KILLS:
            time.sleep(rng.uniform(0.5, 4.0))  # working: kill it at a random moment
            crashy.send_signal(signal.SIGKILL)
            crashy.wait()
            kills += 1
            log(f"kill {kills}")
            log_path = work(f"crash{kills}.log")
            crashy = subprocess.Popen(crash_cmd, stdout=subprocess.DEVNULL, stderr=open(log_path, "w"))
            if not harness.wait_for_text(log_path, "assigned events/0", timeout=30):
                raise RuntimeError("restarted instance was not assigned its partition")
        producer.join()
        log(f"{kills} kills done; stream complete")
        restored = [n for k in range(1, kills + 1) for n in harness.grep_ints(work(f"crash{k}.log"), r"(\d+) users owed a list since before the restart")]
        t.check(sum(restored) > 0, f"restarts found users owed a list in the store ({sum(restored)} in {len(restored)} partitions)")
        time.sleep(10)
        for p in (ref, crashy):
            p.send_signal(signal.SIGTERM)
            p.wait(timeout=60)
        # Catch up to the end of the log, then compare.
        for data, group, recs in [("ref", "ref", "recs_ref"), ("crash", "crash", "recommendations")]:
            harness.run_pipeline(broker.bootstrap, work(data),
                                 extra=["--set", f"kafka.group_id={group}", "--set", f"kafka.recommendations_topic={recs}"])
        a, b = harness.state(work("ref")), harness.state(work("crash"))
        ends = harness.end_offsets(broker.bootstrap)
        t.check(a["applied_events"] == b["applied_events"] == EVENTS,
                f"applied: killed {b['applied_events']}, reference {a['applied_events']}, valid events {EVENTS}")
        t.check(a["rejected_events"] == b["rejected_events"] > 0, f"rejected {b['rejected_events']} == reference")
        t.check(harness.event_offsets(a) == harness.event_offsets(b) == ends, f"offsets equal and at the end of the log {ends}")
        t.check(a["checksum"] == b["checksum"], f"embedding checksum {b['checksum']} == reference {a['checksum']}")
        t.check((a["users"], a["items"]) == (b["users"], b["items"]), "same users and items")

        last_event = {}
        for m in harness.consume_all(broker.bootstrap, "events"):
            if m["key"] != "bad":
                last_event[m["key"]] = m["offset"]
        newest = {}
        for m in harness.consume_all(broker.bootstrap, "recommendations"):
            p = json.loads(m["payload"])
            if p["user_id"] not in newest or p["seq"] >= newest[p["user_id"]]["seq"]:
                newest[p["user_id"]] = p
        # The embedded broker keeps only the newest ~5 MB of each topic: the users whose lists it
        # still holds are checked (their newest list is then the newest ever published).
        stale = [u for u in newest if newest[u]["source"]["offset"] != last_event.get(u)]
        t.check(len(newest) >= 1000 and not stale,
                f"every user's newest list comes from their last event ({len(stale)} of {len(newest)} stale)")
    finally:
        broker.stop()
        if t.failed:
            subprocess.run(f"tail -n 5 {work.path}/crash*.log", shell=True)
        work.cleanup()
    t.finish()


if __name__ == "__main__":
    main()
