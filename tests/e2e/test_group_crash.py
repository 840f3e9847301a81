"""The shared item side through SIGKILLs (docs/SCALE_OUT.md, "Exactly once").

Two `streamrec run` share one consumer group while 30,000 events stream in at
1,500/s over 4 partitions. b first crashes on purpose right after its fourth
item update record reached a, before the window that produced it commits
(`--crash-after-item-records`: the moment exactly-once is hardest on); then each
is SIGKILLed mid-stream at moments of the commit windows that fall anywhere,
and restarted on its store. Then one instance of another group reads the same
log alone, as the reference.

Checked: the group applied every valid event once (a + b); each instance's item
side counts every event exactly once, whichever instance consumed it (its own
events, the other's records, the events it replayed after a kill); and both
instances' co-occurrence totals equal the single instance's exactly (pairs are
counted in multiples of 1/1024: sums in any order are the same floats)."""

import json
import signal
import subprocess
import threading
import time

import group_checks
import harness
from harness import log

EVENTS = 30_000
RATE = int(1500 * harness.RATE_SCALE)
GROUP = "shop"


def start(broker, work, name, log_name, extra=()):
    cmd = [harness.STREAMREC, "run", "--bootstrap", broker.bootstrap, "--data-dir", work(name),
           "--exit-when-idle-ms", "10000", "--set", f"kafka.group_id={GROUP}", *harness.FAST_GROUP,
           "--set", "emitter.top_n=10", *extra]
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=open(work(log_name), "w"))


def kill_and_restart(procs, broker, work, name, run):
    procs[name].send_signal(signal.SIGKILL)
    procs[name].wait()
    log(f"{name} SIGKILLed")
    time.sleep(1)
    procs[name] = start(broker, work, name, f"{name}{run}.log")


def main():
    t = harness.Checks()
    work = harness.WorkDir("group_crash")
    broker = harness.Broker(partitions=4, extra=["--group", GROUP, "--group", "alone"])
    procs = {}
    try:
        evs, _ = harness.generate(work, users=2000, items=500, events=EVENTS)
        procs["a"] = start(broker, work, "a", "a.log")
        procs["b"] = start(broker, work, "b", "b.log", ["--crash-after-item-records", "4"])
        t.check(harness.wait_until(lambda: group_checks.assigned(work("a.log")) and
                                   group_checks.assigned(work("b.log")), 60), "a and b joined the group")
        time.sleep(2)
        done = threading.Event()
        lines = [json.dumps(e) for e in evs]
        producer = threading.Thread(target=group_checks.produce_paced, args=(broker.bootstrap, lines, RATE, done))
        producer.start()
        try:
            code = procs["b"].wait(timeout=60)
        except subprocess.TimeoutExpired:
            code = None
        t.check(code == 137 and "crashing on purpose" in open(work("b.log")).read(),
                f"b crashed between delivering its fourth item update record and committing it (exit {code})")
        procs["b"] = start(broker, work, "b", "b2.log")
        # Kills at odd moments of the 1 s commit windows.
        for delay, name, run in ((3.7, "a", 2), (4.1, "b", 3)):
            time.sleep(delay)
            kill_and_restart(procs, broker, work, name, run)
        t.check(not done.is_set(), "the stream was still flowing through the kills")
        producer.join()
        log("stream complete")
        codes = {name: p.wait(timeout=180) for name, p in procs.items()}
        t.check(set(codes.values()) == {0}, f"a and b exit cleanly when idle {codes}")
        sa, sb = harness.state(work("a")), harness.state(work("b"))
        t.check(sa["applied_events"] + sb["applied_events"] == EVENTS,
                f"applied a + b = {sa['applied_events'] + sb['applied_events']} == valid events {EVENTS}")
        for name, st in (("a", sa), ("b", sb)):
            t.check(st["item_events"] == EVENTS, f"{name}'s item side counts every event once "
                    f"({st['item_events']} of {EVENTS})")
        res = harness.run_pipeline(broker.bootstrap, work("alone"), idle_ms=4000,
                                   extra=["--set", "kafka.group_id=alone", "--set", "emitter.top_n=10"])
        t.check(res.returncode == 0, f"the single instance ran ({res.returncode})")
        one = harness.state(work("alone"))
        t.check(one["item_events"] == EVENTS, f"the single instance counted every event ({one['item_events']})")
        t.check(sa["cooc_weight"] == sb["cooc_weight"] == one["cooc_weight"] and one["cooc_weight"] > 0,
                f"co-occurrence totals: a {sa['cooc_weight']}, b {sb['cooc_weight']}, one instance "
                f"{one['cooc_weight']}")
        caught_up = harness.grep_ints(work("a2.log"), r"(\d+) item update records of other instances applied before")
        log(f"a, restarted, applied {sum(caught_up)} records of b before resuming its partitions")
    finally:
        for p in procs.values():
            if p.poll() is None:
                p.kill()
        broker.stop()
        if t.failed:
            subprocess.run(f"grep -h -E 'assigned|revoked|error|warn|item update' {work.path}/*.log | tail -n 40",
                           shell=True)
        work.cleanup()
    t.finish()


if __name__ == "__main__":
    main()
