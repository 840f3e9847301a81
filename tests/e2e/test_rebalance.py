"""Rebalance: two `streamrec run` processes share one consumer group while events
stream in. One leaves mid-stream (SIGTERM) and later rejoins, so partitions move
both ways. Every partition's state changelog must show one unbroken chain of
batches (each starts where the previous one ended, whichever instance wrote it:
nothing lost, nothing applied twice, only the owner writes), the applied events
of both instances must add up to the valid events, every user's record must hold
exactly as many events as the log has for them, and lists keep their seq order.

Read with kafka-python, an independent client."""

import collections
import json
import signal
import struct
import subprocess
import threading
import time

from kafka import KafkaConsumer, KafkaProducer, TopicPartition

import harness
from harness import log

EVENTS = 60_000
# events/s: the stream lasts 40 s, long enough for two rebalances (b's rejoin,
# a few rounds of the group, took 11-15 s in slow runs)
RATE = int(1500 * harness.RATE_SCALE)
GROUP = "shop"
MARKER_KEY = b"\x00streamrec.offsets"


def run_cmd(bootstrap, data):
    return [harness.STREAMREC, "run", "--bootstrap", bootstrap, "--data-dir", data, "--exit-when-idle-ms", "6000",
            "--set", f"kafka.group_id={GROUP}", *harness.FAST_GROUP,
            # Lists of 10 keep the recommendations topic inside the embedded broker's
            # ~5 MB per partition, so every user's lists are still there to check.
            "--set", "emitter.top_n=10"]


def produce_paced(bootstrap, lines, done):
    p = KafkaProducer(bootstrap_servers=bootstrap, linger_ms=20, retries=10, max_in_flight_requests_per_connection=1)
    start = time.time()
    for k, line in enumerate(lines):
        if k % 500 == 0:
            time.sleep(max(0.0, start + k / RATE - time.time()))
        p.send("events", key=json.loads(line)["user_id"].encode(), value=line.encode())
        if k % 3000 == 11:
            p.send("events", key=b"u-bad", value=b'{"user_id": 7}')
    p.flush()
    p.close()
    done.set()


def read_topic(bootstrap, topic):
    """All records of `topic` as {partition: [(key, value)]}, in offset order."""
    c = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    parts = [TopicPartition(topic, p) for p in c.partitions_for_topic(topic)]
    ends = c.end_offsets(parts)
    c.assign(parts)
    c.seek_to_beginning()
    out = collections.defaultdict(list)
    deadline = time.time() + 60
    while any(c.position(tp) < ends[tp] for tp in parts) and time.time() < deadline:
        for tp, records in c.poll(timeout_ms=500).items():
            out[tp.partition].extend((r.key, r.value) for r in records)
    c.close()
    return out


def assigned(path):
    """Partitions the instance logging to `path` was last assigned."""
    parts = set()
    for line in open(path):
        if "revoked events/" in line:
            parts.discard(int(line.rsplit("/", 1)[1]))
        elif "assigned events/" in line:
            parts.add(int(line.split("assigned events/")[1].split()[0]))
    return parts


def wait_exit(proc, name, timeout=120):
    code = proc.wait(timeout=timeout)
    log(f"{name} exited {code}")
    return code


def main():
    t = harness.Checks()
    work = harness.WorkDir("rebalance")
    broker = harness.Broker(partitions=4, extra=["--group", GROUP])
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
        producer = threading.Thread(target=produce_paced, args=(broker.bootstrap, lines, done))
        producer.start()
        time.sleep(3)
        b_parts = assigned(work("b.log"))
        b.send_signal(signal.SIGTERM)  # leaves mid-stream: its partitions move to a
        t.check(wait_exit(b, "b (left)") == 0, "the leaving instance exits cleanly")
        t.check(harness.wait_until(lambda: b_parts <= assigned(work("a.log")), 30), f"a took over b's partitions {b_parts}")
        time.sleep(2)
        b = subprocess.Popen(run_cmd(broker.bootstrap, work("b")), stdout=subprocess.DEVNULL,
                             stderr=open(work("b2.log"), "w"))  # rejoins: partitions move back
        t.check(harness.wait_until(lambda: assigned(work("b2.log")), 30), "b rejoined and was given partitions")
        t.check(not done.is_set(), "the stream was still flowing when b came back")
        producer.join()
        log("stream complete")
        codes = (wait_exit(a, "a"), wait_exit(b, "b"))
        t.check(codes == (0, 0), f"both exit cleanly when idle {codes}")
        t.check(harness.wait_for_text(work("b2.log"), "adopted", 1), "the rejoined instance adopted state a wrote")
        t.check(harness.wait_for_text(work("a.log"), "adopted", 1), "a adopted state b wrote")

        sa, sb = harness.state(work("a")), harness.state(work("b"))
        ends = harness.end_offsets(broker.bootstrap)
        valid = EVENTS
        t.check(sa["applied_events"] > 0 and sb["applied_events"] > 0,
                f"both did work: a {sa['applied_events']}, b {sb['applied_events']}")
        t.check(sa["applied_events"] + sb["applied_events"] == valid,
                f"applied a + b = {sa['applied_events'] + sb['applied_events']} == valid events {valid}")

        changelog = read_topic(broker.bootstrap, f"{GROUP}.state")
        broken, moves, last_record = [], set(), {}
        for p in range(4):
            markers = [json.loads(v) for k, v in changelog[p] if k == MARKER_KEY]
            for prev, cur in zip(markers, markers[1:]):
                if cur["from"] != prev["next_offset"]:
                    broken.append((p, prev, cur))
                if cur["writer"] != prev["writer"]:
                    moves.add((prev["writer"], cur["writer"]))
            end = ends.get(f"events/{p}", 0)
            if not markers or markers[0]["from"] not in (-1, 0) or markers[-1]["next_offset"] != end:
                broken.append((p, "ends", markers[:1], markers[-1:], end))
            for k, v in changelog[p]:
                if k != MARKER_KEY:
                    last_record[k.decode()] = v
        t.check(not broken, f"every partition's batches form one chain from 0 to the end ({broken[:3]})")
        writers = {w for pair in moves for w in pair}
        t.check(len(writers) == 2 and all((y, x) in moves for x, y in moves),
                f"partitions moved both ways between the two instances ({len(moves)} kinds of move)")

        per_user = collections.Counter(e["user_id"] for e in evs)
        wrong = [u for u, n in per_user.items()
                 if u not in last_record or struct.unpack_from("<Q", last_record[u], 1)[0] != n]
        t.check(not wrong, f"each of {len(per_user)} users' newest state holds exactly their events ({wrong[:5]})")

        # The embedded broker's compaction copies a key's latest record forward
        # (marked by a header); a copy that lands just after a newer list repeats
        # an older one (and a copy of the newer follows at once): readers keeping
        # the highest seq ignore it. Any other step back is a fault.
        records = collections.defaultdict(list)
        for m in harness.consume_all(broker.bootstrap, "recommendations"):
            copy = harness.COMPACTION_COPY_HEADER in (m.get("headers") or [])[::2]
            records[json.loads(m["payload"])["user_id"]].append((json.loads(m["payload"])["seq"], copy))
        unordered, last_not_highest = [], []
        for user, lists in records.items():
            highest = -1
            for seq, copy in lists:
                if seq < highest and not copy:
                    unordered.append(user)
                    break
                highest = max(highest, seq)
            if lists[-1][0] != highest:
                last_not_highest.append(user)
        t.check(len(records) == len(per_user) and not unordered,
                f"every user has lists and their seq never goes back across instances ({len(unordered)} out of order)")
        t.check(not last_not_highest, f"every user's last record is their highest seq ({len(last_not_highest)} not)")
    finally:
        broker.stop()
        if t.failed:
            subprocess.run(f"grep -h -E 'adopt|assigned|revoked|error' {work.path}/*.log | tail -n 40", shell=True)
        work.cleanup()
    t.finish()


if __name__ == "__main__":
    main()
