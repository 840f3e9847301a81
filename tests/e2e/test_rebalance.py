"""Rebalance: two `streamrec run` processes share one consumer group while events
stream in. One leaves mid-stream (SIGTERM) and later rejoins, so partitions move
both ways. Every partition's state changelog must show one unbroken chain of
batches (each starts where the previous one ended, whichever instance wrote it:
nothing lost, nothing applied twice, only the owner writes), the applied events
of both instances must add up to the valid events, every user's record must hold
exactly as many events as the log has for them, and lists keep their seq order.
Each instance's item side (shared through shop.items) counts every event exactly
once, whichever instance consumed it, and the two hold equal co-occurrence totals.

Read with kafka-python, an independent client.

On real Kafka (e2e_rebalance_kafka) the compaction is Kafka's own, made eager:
`shop.state` and `recommendations` roll a segment every 2 s and are cleaned as
soon as 1 % of them is dirty, without the changelog's usual 10 min lag; the
broker's log must show its cleaner compacting both during the test, the
changelog's chains are checked on the records as written (read live), and
the other checks on what compaction left. Then a user's state is erased by a
tombstone in the changelog: once compacted, an instance adopting that
partition from scratch must not bring the user back."""

import json
import signal
import subprocess
import threading
import time

import group_checks
import harness
from harness import log

EVENTS = 60_000
# events/s: the stream lasts 40 s, long enough for two rebalances (b's rejoin,
# a few rounds of the group, took 11-15 s in slow runs)
RATE = int(1500 * harness.RATE_SCALE)
GROUP = "shop"


def run_cmd(bootstrap, data):
    return [harness.STREAMREC, "run", "--bootstrap", bootstrap, "--data-dir", data, "--exit-when-idle-ms", "6000",
            "--set", f"kafka.group_id={GROUP}", *harness.FAST_GROUP,
            # Lists of 10 keep the recommendations topic inside the embedded broker's
            # ~5 MB per partition, so every user's lists are still there to check.
            "--set", "emitter.top_n=10"]


# Kafka's compaction, eager (real Kafka only): segments roll every 2 s, cleaned at 1 % dirty
# or once a record waited 3 s.
EAGER = {"segment.ms": 2000, "min.cleanable.dirty.ratio": 0.01, "min.compaction.lag.ms": 0,
         "max.compaction.lag.ms": 3000, "delete.retention.ms": 1000}
EAGER_BROKER = {"log.cleaner.backoff.ms": 300}
KAFKA = harness.BACKEND == "kafka"


def cleaned(broker, topic):
    """Partitions of `topic` Kafka's cleaner compacted: fewer records than offsets between its watermarks."""
    counts = group_checks.record_counts(broker.bootstrap, topic)
    return {p for p, (records, offsets) in counts.items() if records < offsets}


def check_erasure(t, broker, work, evs):
    """A tombstone erases a user from the changelog: after compaction an
    instance adopting the partition from scratch does not bring them back."""
    from confluent_kafka import Producer

    victim = evs[0]["user_id"]
    p = Producer({"bootstrap.servers": broker.bootstrap, "partitioner": "murmur2_random"})
    p.produce(f"{GROUP}.state", key=victim, value=None)
    p.flush(30)
    partition = next(part for part, records in group_checks.read_topic(broker.bootstrap, f"{GROUP}.state").items()
                     if any(k == victim.encode() for k, _ in records))
    time.sleep(3)  # the tombstone's segment rolls (segment.ms 2 s) on the next append
    p.produce(f"{GROUP}.state", key="\x00roll", value=b"", partition=partition)  # rolls the segment
    p.flush(30)

    def gone():
        records = group_checks.read_topic(broker.bootstrap, f"{GROUP}.state")[partition]
        return not any(k == victim.encode() and v for k, v in records)

    t.check(harness.wait_until(gone, 60), f"compaction removed {victim}'s state behind the tombstone")
    res = harness.run_pipeline(broker.bootstrap, work("fresh"), idle_ms=3000,
                               extra=["--set", f"kafka.group_id={GROUP}"])
    t.check(res.returncode == 0 and "adopted" in res.stderr, "a fresh instance adopted every partition")
    users = harness.state(work("fresh"))["users"]
    t.check(users == len({e["user_id"] for e in evs}) - 1, f"the erased user stayed erased ({users} users adopted)")


def wait_exit(proc, name, timeout=120):
    code = proc.wait(timeout=timeout)
    log(f"{name} exited {code}")
    return code


def main():
    t = harness.Checks()
    work = harness.WorkDir("rebalance")
    eager = {f"{GROUP}.state": EAGER, "recommendations": EAGER} if KAFKA else None
    broker = harness.Broker(partitions=4, extra=["--group", GROUP], topic_config=eager,
                            broker_config=EAGER_BROKER if KAFKA else None)
    # The changelog as written, before Kafka's cleaner removes superseded records.
    written = group_checks.OutputWatcher(broker.bootstrap, 4, f"{GROUP}.state", from_beginning=True,
                                         keep=True) if KAFKA else None
    try:
        evs, _ = harness.generate(work, users=2000, items=500, events=EVENTS)
        lines = [json.dumps(e) for e in evs]
        a = subprocess.Popen(run_cmd(broker.bootstrap, work("a")), stdout=subprocess.DEVNULL,
                             stderr=open(work("a.log"), "w"))
        b = subprocess.Popen(run_cmd(broker.bootstrap, work("b")), stdout=subprocess.DEVNULL,
                             stderr=open(work("b.log"), "w"))
        t.check(harness.wait_for_text(work("a.log"), "assigned events/") and
                harness.wait_for_text(work("b.log"), "assigned events/"), "both instances joined the group")
        time.sleep(2)
        done = threading.Event()
        producer = threading.Thread(target=group_checks.produce_paced, args=(broker.bootstrap, lines, RATE, done))
        producer.start()
        time.sleep(3)
        b_parts = group_checks.assigned(work("b.log"))
        b.send_signal(signal.SIGTERM)  # leaves mid-stream: its partitions move to a
        t.check(wait_exit(b, "b (left)") == 0, "the leaving instance exits cleanly")
        t.check(harness.wait_until(lambda: b_parts <= group_checks.assigned(work("a.log")), 30),
                f"a took over b's partitions {b_parts}")
        time.sleep(2)
        b = subprocess.Popen(run_cmd(broker.bootstrap, work("b")), stdout=subprocess.DEVNULL,
                             stderr=open(work("b2.log"), "w"))  # rejoins: partitions move back
        t.check(harness.wait_until(lambda: group_checks.assigned(work("b2.log")), 30),
                "b rejoined and was given partitions")
        t.check(not done.is_set(), "the stream was still flowing when b came back")
        producer.join()
        log("stream complete")
        codes = (wait_exit(a, "a"), wait_exit(b, "b"))
        t.check(codes == (0, 0), f"both exit cleanly when idle {codes}")
        t.check(harness.wait_for_text(work("b2.log"), "adopted", 1), "the rejoined instance adopted state a wrote")
        t.check(harness.wait_for_text(work("a.log"), "adopted", 1), "a adopted state b wrote")

        sa, sb = harness.state(work("a")), harness.state(work("b"))
        valid = EVENTS
        t.check(sa["applied_events"] > 0 and sb["applied_events"] > 0,
                f"both did work: a {sa['applied_events']}, b {sb['applied_events']}")
        t.check(sa["applied_events"] + sb["applied_events"] == valid,
                f"applied a + b = {sa['applied_events'] + sb['applied_events']} == valid events {valid}")
        # The item side is shared (docs/SCALE_OUT.md): each instance's counts every event
        # once, whichever instance consumed it, and the two hold the same co-occurrences.
        for name, st in (("a", sa), ("b", sb)):
            t.check(st["item_events"] == valid, f"{name}'s item side counts every event once "
                    f"({st['item_events']} of {valid})")
        t.check(sa["cooc_weight"] == sb["cooc_weight"] and sa["cooc_weight"] > 0,
                f"a and b hold equal co-occurrence totals ({sa['cooc_weight']}, {sb['cooc_weight']})")

        if written:
            written.stop()
        moves = group_checks.check_changelog(t, broker.bootstrap, GROUP, 4, evs, written and written.records)
        writers = {w for pair in moves for w in pair}
        t.check(len(writers) == 2 and all((y, x) in moves for x, y in moves),
                f"partitions moved both ways between the two instances ({len(moves)} kinds of move)")
        group_checks.check_list_order(t, broker.bootstrap, {e["user_id"] for e in evs})
        if KAFKA:
            for topic in (f"{GROUP}.state", "recommendations"):
                t.check(harness.wait_until(lambda: len(cleaned(broker, topic)) == 4, 30),
                        f"Kafka's cleaner compacted {topic} (partitions {sorted(cleaned(broker, topic))} hold fewer "
                        f"records than offsets)")
            check_erasure(t, broker, work, evs)
    finally:
        if written:
            written.stop()
        broker.stop()
        if t.failed:
            subprocess.run(f"grep -h -E 'adopt|assigned|revoked|error' {work.path}/*.log | tail -n 40", shell=True)
        work.cleanup()
    t.finish()


if __name__ == "__main__":
    main()
