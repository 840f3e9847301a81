"""A partition revoked while its state is being adopted, on a real Apache Kafka broker.

Another instance ("old-instance") left 600,000 users in each of the two
partitions of `streamrec.state` (the documented encoding, as in
test_adoption.py). Instance A joins the group alone and starts adopting
partition 0; a second later instance B joins. The group's default (eager)
assignor then revokes every partition of A, partition 0 in the middle of its
restore: A must stop reading it, keep what it committed harmless, and the
partitions' new owners must each adopt theirs in full.

Checked: A logged a restore stopped part-way; each partition's users were
adopted in full by its final owner (the log's count); 100 users of each
partition who send an event afterwards have lists continuing their adopted
`seq`; each of those events is applied exactly once over the two instances;
both exit cleanly."""

import json
import re
import signal
import subprocess
import sys
import time

from confluent_kafka import Producer

import harness
from harness import log
from real_kafka import RealKafka, free_port
from test_adoption import ADOPTED_SEQ, latest_lists, write_changelog

USERS = 600_000  # per partition
PROBES = 100  # per partition
MAX_POLL_MS = int(10_000 / harness.RATE_SCALE)


def user(partition, n):
    return f"p{partition}-u{n}"


def probes(partition):
    return [user(partition, n * (USERS // PROBES)) for n in range(PROBES)]


def send_probes(bootstrap):
    p = Producer({"bootstrap.servers": bootstrap})
    for partition in (0, 1):
        for u in probes(partition):
            p.produce("events", key=u.encode(), partition=partition,
                      value=json.dumps({"user_id": u, "item_id": "i3", "type": "click", "ts": 1700000000000}))
    assert p.flush(60) == 0


def start(kafka, work, name, port):
    # No idle exit: the first to leave would hand its partitions to the other.
    # Static membership (the default): a SIGTERM'd member leaves no rebalance behind.
    cmd = [harness.STREAMREC, "run", "--bootstrap", kafka.bootstrap, "--data-dir", work(name),
           "--set", "kafka.partitions=2", "--set", f"http.listen=127.0.0.1:{port}",
           "--set", "pipeline.status_interval_s=0",
           "--set", f"kafka.consumer_properties={{session.timeout.ms: 6000, max.poll.interval.ms: {MAX_POLL_MS}}}"]
    err = open(work(f"{name}.log"), "w")
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err), err


def partition_settled(work, partition):
    """True if the newest assignment change of `partition` in either log is its release."""
    changes = []
    for name in ("a", "b"):
        for line in open(work(f"{name}.log")):
            m = re.match(rf"(\S+) info \[kafka\] (assigned|released|revoked) events/{partition} ", line)
            if m:
                changes.append((m.group(1), m.group(2)))
    return bool(changes) and max(changes)[1] == "released"


def adopted(text):
    """partition -> users of the complete adoptions logged."""
    return {int(m.group(1)): int(m.group(2)) for m in
            re.finditer(r"streamrec\.state/(\d+): adopted (\d+) users from", text)}


def main():
    t = harness.Checks()
    work = harness.WorkDir("adoption-revoked")
    with RealKafka() as kafka:
        log(f"real Kafka up in {kafka.start_seconds:.1f} s at {kafka.bootstrap}")
        kafka.create_topic("events", 2)
        kafka.create_topic("streamrec.state", 2, compacted=True)
        started = time.time()
        write_changelog(kafka.bootstrap, USERS, partitions=(0, 1), key=user, incomplete=0)
        log(f"wrote 2 x {USERS:,} users' records to streamrec.state in {time.time() - started:.1f} s")
        send_probes(kafka.bootstrap)

        ports = {"a": free_port(), "b": free_port()}
        a, a_err = start(kafka, work, "a", ports["a"])
        ok = harness.wait_until(lambda: re.search(r"assigned events/0 from offset -?\d+, held",
                                                  open(work("a.log")).read()), 60)
        t.check(ok, "A is assigned events/0 held, to adopt its state")
        time.sleep(1.0)
        b, b_err = start(kafka, work, "b", ports["b"])
        log("B started while A adopts")

        def settled():
            m = [harness.metrics(ports[name]) for name in ("a", "b")]
            return (all(partition_settled(work, p) for p in (0, 1)) and all(x.get("streamrec_lists_pending", 1) == 0 and x.get("streamrec_assigned_partitions") == 1
                        for x in m)
                    and sum(x.get("streamrec_events_applied_total", 0) for x in m) >= 2 * PROBES)

        ok = harness.wait_until(lambda: a.poll() is None and b.poll() is None and settled(), 300 / harness.RATE_SCALE)
        log(f"settled: {ok}")
        t.check(ok, "one partition each, the probes' events applied, no list owed")
        time.sleep(2)  # the last lists' delivery
        codes = []
        for proc in (a, b):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in (a, b):
            try:
                codes.append(proc.wait(timeout=60))
            except subprocess.TimeoutExpired:
                proc.kill()
                codes.append(proc.wait())
        a_err.close()
        b_err.close()
        texts = {name: open(work(f"{name}.log")).read() for name in ("a", "b")}
        t.check(codes == [0, 0], f"both exit cleanly: {codes}")
        stopped = re.search(r"streamrec\.state/0: restore stopped after (\d+) users", texts["a"])
        log(stopped.group(0) if stopped else "A logged no stopped restore")
        t.check(stopped is not None and "revoked events/0" in texts["a"],
                "A's restore of partition 0 was stopped by the revocation")
        owners = {}
        for name, text in texts.items():
            for line in text.splitlines():
                m = re.search(r"released events/(\d+) at offset", line)
                if m:
                    owners[int(m.group(1))] = name  # the last release of a partition is its final owner's
        log(f"final owners: {owners}")
        for partition in (0, 1):
            owner = owners.get(partition)
            full = owner is not None and adopted(texts[owner]).get(partition) == USERS
            t.check(full, f"partition {partition}: all {USERS:,} users adopted by its final owner ({owner})")

        wanted = set(probes(0)) | set(probes(1))
        latest = latest_lists(kafka.bootstrap, wanted)
        seqs = [latest.get(u, {}).get("seq") for u in sorted(wanted)]
        t.check(all(s is not None and s > ADOPTED_SEQ for s in seqs),
                f"each probe user's list follows the adopted seq {ADOPTED_SEQ} (first {seqs[:5]})")
        states = [harness.state(work(name)) for name in ("a", "b")]
        applied = sum(st["applied_events"] for st in states)
        t.check(applied == 2 * PROBES, f"the {2 * PROBES} events applied exactly once over both: {applied}")
        for partition in (0, 1):
            offset = harness.event_offsets(states[0 if owners.get(partition) == "a" else 1]).get(f"events/{partition}")
            t.check(offset == PROBES, f"events/{partition}: its final owner stored offset {offset}")
        if t.failed:
            for name, text in texts.items():
                print(f"--- {name}:\n" + "\n".join(l for l in text.splitlines()
                                                  if re.search(r"adopt|assign|revok|releas|restore|error", l))[-4000:])
    work.cleanup()
    t.finish()


if __name__ == "__main__":
    sys.exit(main())
