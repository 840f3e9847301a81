"""A consumer group of `streamrec run` on real Apache Kafka's group coordinator,
while 90,000 events (+ malformed ones) stream in at 1,500/s over 6 partitions.

1. Static membership (the default, group.instance.id from the store's instance
   id; session.timeout.ms 12 s): instances A and B share the group; A crashes
   on purpose right after its 15th item update record reached B, before the
   window that produced it commits (`--crash-after-item-records`, exit 137, as a
   SIGKILL), and is restarted 2 s later on the same store. It must get its own
   partitions back without a rebalance (B's assignment never changes), within
   seconds (measured: restart to assignment, and the longest time without a
   list on A's partitions).
2. Scale-out and loss: C joins (a rebalance hands it partitions), then B is
   SIGKILLed and never comes back: once its session expires its partitions go
   to A and C (measured), which adopt B's state from the changelog.

Checked at the end: each remaining instance's item side (shared through
shop.items, docs/SCALE_OUT.md) counts every valid event exactly once, and the two
hold equal co-occurrence totals. From Kafka itself (kafka-python): every partition's
changelog is one unbroken chain of batches from offset 0 to the end of `events`
(nothing lost, nothing applied twice, whoever wrote them); each user's newest
state holds exactly their number of events; every user has lists and the
last of each has their highest seq (replayed events' lists may step back, see
group_checks.check_list_order); A and C exit cleanly."""

import json
import signal
import subprocess
import threading
import time

import group_checks
import harness
from harness import log
from real_kafka import RealKafka

EVENTS = 90_000
USERS = 3_000
PARTITIONS = 6
RATE = int(1500 * harness.RATE_SCALE)
GROUP = "shop"
SESSION_MS = 12_000


def start(kafka, work, name, log_name, extra=()):
    cmd = [harness.STREAMREC, "run", "--bootstrap", kafka.bootstrap, "--data-dir", work(name),
           "--exit-when-idle-ms", "8000", "--set", f"kafka.group_id={GROUP}", *harness.FAST_GROUP,
           "--set", "kafka.static_membership=true",
           "--set", f"kafka.consumer_properties={{session.timeout.ms: {SESSION_MS}}}", *extra]
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=open(work(log_name), "w"))


def kill(proc, name):
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    log(f"{name} SIGKILLed")


def static_rejoin(t, procs, kafka, work, watcher):
    """Phase 1: A crashed between delivering item updates and committing them, then restarted."""
    a_parts = group_checks.assigned(work("a.log"))
    b_changes = group_checks.assignment_changes(work("b.log"))
    try:
        code = procs.pop("a").wait(timeout=60)
    except subprocess.TimeoutExpired:
        code = None
    killed = time.monotonic()
    t.check(code == 137 and "crashing on purpose" in open(work("a.log")).read(),
            f"a crashed between delivering its 15th item update record and committing it (exit {code})")
    time.sleep(2)
    restarted = time.monotonic()
    procs["a"] = start(kafka, work, "a", "a2.log")
    back = harness.wait_until(lambda: group_checks.assigned(work("a2.log")) == a_parts, 30)
    rejoin_s = time.monotonic() - restarted
    t.check(back and rejoin_s < 10,
            f"the restarted static member got its partitions {sorted(a_parts)} back in {rejoin_s:.1f} s")
    time.sleep(3)
    t.check(group_checks.assignment_changes(work("b.log")) == b_changes,
            "no rebalance: the other member's assignment never changed")
    gap, part = watcher.longest_gap(killed, time.monotonic(), a_parts)
    log(f"MEASURED static rejoin: restart to assignment {rejoin_s:.1f} s; longest time without a list on the "
        f"killed member's partitions {gap:.1f} s (partition {part}, 2 s of it before the restart)")


def scale(t, procs, kafka, work, watcher):
    """Phase 2: C joins, then B is killed for good."""
    procs["c"] = start(kafka, work, "c", "c.log")
    t.check(harness.wait_until(lambda: group_checks.assigned(work("c.log")), 30), "c joined and was given partitions")
    time.sleep(4)
    b_parts = group_checks.assigned(work("b.log"))
    killed = time.monotonic()
    kill(procs.pop("b"), "b")

    def taken_over():
        return b_parts <= group_checks.assigned(work("a2.log")) | group_checks.assigned(work("c.log"))

    moved = harness.wait_until(taken_over, SESSION_MS / 1000 + 30)
    took = time.monotonic() - killed
    t.check(moved, f"b's partitions {sorted(b_parts)} went to a and c, {took:.1f} s after the kill")
    gap, part = watcher.longest_gap(killed, time.monotonic(), b_parts)
    log(f"MEASURED member lost for good: partitions taken over {took:.1f} s after SIGKILL "
        f"(session.timeout.ms {SESSION_MS}); longest time without a list there {gap:.1f} s (partition {part})")


def check_item_side(t, states, events):
    """The item side is shared (docs/SCALE_OUT.md): each remaining instance's holds every
    valid event exactly once, whoever consumed it, through a SIGKILL and restart and a
    member lost for good, and the instances counted the same co-occurrences (`streamrec
    state`'s co-occurrence total: the rows' weights and what trimming dropped from them;
    800 items fill popular items' rows past 2 x learner.max_neighbors, and which weak
    neighbours a trimmed row keeps depends on the order in which pairs arrived)."""
    for k, st in enumerate(states):
        t.check(st["item_events"] == events, f"instance {k}'s item side counts every event once "
                f"({st['item_events']} of {events})")
    weights = [st["cooc_weight"] for st in states]
    t.check(len(set(weights)) == 1 and weights[0] > 0, f"the instances' co-occurrence totals are equal {weights}")


def main():
    t = harness.Checks()
    procs = {}
    work = harness.WorkDir("group_kafka")
    kafka = RealKafka()
    watcher = None
    try:
        kafka.create_streamrec_topics(harness.STREAMREC, PARTITIONS, groups=[GROUP])
        evs, _ = harness.generate(work, users=USERS, items=800, events=EVENTS)
        procs["a"] = start(kafka, work, "a", "a.log", ["--crash-after-item-records", "15"])
        procs["b"] = start(kafka, work, "b", "b.log")
        t.check(harness.wait_until(lambda: group_checks.assigned(work("a.log")) and
                                   group_checks.assigned(work("b.log")), 60), "a and b joined the group")
        watcher = group_checks.OutputWatcher(kafka.bootstrap, PARTITIONS)
        done = threading.Event()
        lines = [json.dumps(e) for e in evs]
        producer = threading.Thread(target=group_checks.produce_paced, args=(kafka.bootstrap, lines, RATE, done))
        producer.start()
        static_rejoin(t, procs, kafka, work, watcher)
        scale(t, procs, kafka, work, watcher)
        t.check(not done.is_set(), "the stream was still flowing through both phases")
        producer.join()
        log("stream complete")
        codes = {name: p.wait(timeout=180) for name, p in procs.items()}
        t.check(set(codes.values()) == {0}, f"a and c exit cleanly when idle {codes}")
        check_item_side(t, [harness.state(work(name)) for name in ("a", "c")], len(evs))
        moves = group_checks.check_changelog(t, kafka.bootstrap, GROUP, PARTITIONS, evs)
        writers = {w for pair in moves for w in pair}
        t.check(len(writers) == 3, f"state moved between all three instances ({len(writers)} writers)")
        group_checks.check_list_order(t, kafka.bootstrap, {e["user_id"] for e in evs}, killed=True)
    finally:
        if watcher:
            watcher.stop()
        for p in procs.values():
            if p.poll() is None:
                p.kill()
        kafka.stop()
        if t.failed:
            subprocess.run(f"grep -h -E 'adopt|assigned|revoked|error|warn' {work.path}/*.log | tail -n 60", shell=True)
        work.cleanup()
    t.finish()


if __name__ == "__main__":
    main()
