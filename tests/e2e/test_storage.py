"""Storage faults: while `streamrec run` works through a backlog, its file-size limit
(RLIMIT_FSIZE, what `ulimit -f` sets) is lowered to 0 from outside with prlimit, so
every write to the store fails (EFBIG), as on a full disk, and no new file can be
written either. Consumption must stop with the error in the log and in /health (503),
the group's committed offsets must not move while the state cannot be written, and
once the limit is lifted (space returns) the pipeline must go on by itself and end
with every event applied exactly once. Its log goes through a pipe, which the limit
does not touch."""

import json
import re
import subprocess
import threading
import time
import urllib.error
import urllib.request

from kafka import KafkaConsumer, TopicPartition

import harness
from harness import log

GROUP = "disk"


def health(port):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def committed(bootstrap, partitions):
    c = KafkaConsumer(bootstrap_servers=bootstrap, group_id=GROUP, enable_auto_commit=False)
    out = {p: c.committed(TopicPartition("events", p)) for p in range(partitions)}
    c.close()
    return out


def pump(pipe, path):
    """Copies the child's log line by line (the pipe is not subject to its file-size limit)."""
    with open(path, "wb", buffering=0) as sink:
        for line in iter(pipe.readline, b""):
            sink.write(line)


def main():
    t = harness.Checks()
    work = harness.WorkDir("storage")
    # 3,000 users' lists on 2 partitions: more than they keep compacted (not what this tests).
    broker = harness.Broker(partitions=2, compaction=False, extra=["--group", GROUP])
    run = None
    completed = False
    try:
        events, _ = harness.generate(work, users=3000, items=1000, events=40000)
        harness.produce(broker.bootstrap, harness.as_messages(events[:30000]))
        run_log = work("run.log")
        run = subprocess.Popen([harness.STREAMREC, "run", "--bootstrap", broker.bootstrap, "--data-dir", work("data"),
                                "--exit-when-idle-ms", "4000", "--set", f"kafka.group_id={GROUP}",
                                "--set", "pipeline.batch_max_events=200", *harness.FAST_GROUP],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        open(run_log, "w").close()
        threading.Thread(target=pump, args=(run.stderr, run_log), daemon=True).start()
        t.check(harness.wait_for_text(run_log, "status endpoint at"), "status endpoint announced")
        port = int(re.search(r"127\.0\.0\.1:(\d+)/health", open(run_log).read()).group(1))
        t.check(harness.wait_until(lambda: health(port)[1]["applied_events"] > 2000, 60), "working through the backlog")
        subprocess.run(["prlimit", "--pid", str(run.pid), "--fsize=0:unlimited"], check=True)
        log("file-size limit set to 0: the disk is full")
        # More events, so that state must be written after the disk filled
        # (the backlog may already be durable by now).
        harness.produce(broker.bootstrap, harness.as_messages(events[30000:32000]))
        check_fault_and_recovery(t, broker, run, port, run_log, events)

        st = harness.state(work("data"))
        ends = harness.end_offsets(broker.bootstrap)
        t.check(st["applied_events"] == len(events), f"applied {st['applied_events']} == {len(events)} events")
        t.check(harness.event_offsets(st) == ends, f"offsets at the end of the log {ends}")
        completed = True
    finally:
        if run and run.poll() is None:
            run.kill()
        elif run and not completed:
            log(f"streamrec exited with {run.returncode}")
        broker.stop()
        if t.failed or not completed:
            subprocess.run(f"grep -v ' info ' {work.path}/run.log | tail -n 20", shell=True)
        work.cleanup()
    t.finish()


def check_fault_and_recovery(t, broker, run, port, run_log, events):
    failing = harness.wait_until(lambda: health(port)[0] == 503, 60)
    code, body = health(port)
    t.check(failing and "committing state" in body.get("problem", ""),
            f"/health turns 503 and names the failing commit: {body}")
    t.check(harness.wait_for_text(run_log, "committing state failed, retrying"), "the log says the same")
    before = committed(broker.bootstrap, 2)
    time.sleep(3)
    after = committed(broker.bootstrap, 2)
    t.check(before == after and sum(v or 0 for v in after.values()) < 32000,
            f"committed offsets stay put while state cannot be written ({after})")
    t.check(run.poll() is None, "the pipeline waits instead of exiting")
    # The wait is visible as such: the oldest change not yet durable keeps its
    # time while commits fail (what http.commit_stall_s judges when no error
    # is reported), and is cleared once commits succeed and the stream is idle.
    stuck = body.get("uncommitted_since_ms", 0)
    t.check(0 < stuck < time.time() * 1000 - 3000 and health(port)[1].get("uncommitted_since_ms") == stuck,
            f"/health shows since when changes wait for a commit ({stuck})")

    subprocess.run(["prlimit", "--pid", str(run.pid), "--fsize=unlimited:unlimited"], check=True)
    log("file-size limit lifted")
    t.check(harness.wait_until(lambda: health(port)[0] == 200, 60), "/health is 200 again once space returns")
    t.check(harness.wait_until(lambda: health(port)[1].get("uncommitted_since_ms") == 0, 30),
            "nothing waits for a commit once the backlog is durable")
    harness.produce(broker.bootstrap, harness.as_messages(events[32000:]))
    code = run.wait(timeout=180)
    t.check(code == 0, f"exits cleanly when idle (exit {code})")


if __name__ == "__main__":
    main()
