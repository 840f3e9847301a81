"""Helpers for end-to-end tests: the streamrec binary, the embedded broker, and
independent Kafka clients (kafka-python to produce, kcat to consume)."""

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.request

from kafka import KafkaProducer
from kafka import KafkaConsumer, TopicPartition

STREAMREC = os.environ.get("STREAMREC_BIN") or (sys.argv[1] if len(sys.argv) > 1 else "")
# Paced tests scale their event rates by this (scripts/sanitize.sh slows them for
# instrumented binaries, which must still keep up with the broker's retention).
RATE_SCALE = float(os.environ.get("STREAMREC_E2E_RATE_SCALE", "1"))
# Memory bounds are multiplied by this (sanitizer builds: shadow memory, quarantines).
MEMORY_SCALE = float(os.environ.get("STREAMREC_E2E_MEMORY_SCALE", "1"))
# Short sessions so restarts rejoin the group quickly on the mock broker. Static
# membership off: librdkafka 2.0.2's mock broker does not implement it, and a
# restarted static member waits there about 11 s instead of 5 s.
FAST_GROUP = ["--set", "kafka.consumer_properties={session.timeout.ms: 6000}", "--set", "http.listen=127.0.0.1:0",
              "--set", "kafka.static_membership=false", "--set", "pipeline.status_interval_s=0"]


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


# Which broker harness.Broker starts: "embedded" (`streamrec broker`, the
# default) or "kafka" (a real Apache Kafka node, tests/e2e/real_kafka.py).
BACKEND = os.environ.get("STREAMREC_E2E_BROKER", "embedded")

# The header the embedded broker's compaction puts on the records it copies forward.
COMPACTION_COPY_HEADER = "streamrec.compaction-copy"


class Broker:
    """`streamrec broker` as a child process, or a real Kafka node with the
    same topics (STREAMREC_E2E_BROKER=kafka)."""

    def __init__(self, partitions=4, log_path=None, compaction=True, extra=(), topic_config=None,
                 broker_config=None):
        """`compaction` False: --no-compaction, for streams of more users' lists than the broker keeps.
        `extra`: more `streamrec broker` flags (`--group NAME` also applies to real Kafka).
        `topic_config`: {topic: {setting: value}} for real Kafka's topics, `broker_config` its
        server.properties additions (the embedded broker has neither)."""
        self.proc = self.kafka = None
        if BACKEND == "kafka":
            self._start_kafka(partitions, list(extra), topic_config or {}, broker_config)
            return
        err = open(log_path, "w") if log_path else subprocess.DEVNULL
        flags = ([] if compaction else ["--no-compaction"]) + list(extra)
        self.proc = subprocess.Popen([STREAMREC, "broker", "--partitions", str(partitions), *flags],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err, text=True)
        self.bootstrap = self.proc.stdout.readline().strip()
        assert self.bootstrap.startswith("127.0.0.1:"), f"unexpected first line {self.bootstrap!r}"

    def _start_kafka(self, partitions, extra, topic_config, broker_config):
        from real_kafka import RealKafka

        self.kafka = RealKafka(broker_config=broker_config)
        self.bootstrap = self.kafka.bootstrap
        groups = [extra[i + 1] for i, flag in enumerate(extra[:-1]) if flag == "--group"]
        self.kafka.create_streamrec_topics(STREAMREC, partitions, groups, topic_config)
        log(f"real Kafka at {self.bootstrap} (up in {self.kafka.start_seconds:.1f} s)")

    def command(self, line):
        """A fault-injection command (see `streamrec broker --help`); returns its answer."""
        assert self.proc, "fault injection needs the embedded broker"
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        return self.proc.stdout.readline().strip()

    def running(self):
        """False once the embedded broker has exited by itself (it stops when its
        compaction can no longer keep the compacted topics whole); a real node: True."""
        return self.kafka is not None or self.proc.poll() is None

    def stop(self):
        if self.kafka:
            self.kafka.stop()
            return
        if self.proc.poll() is not None:
            log(f"the embedded broker had already exited (code {self.proc.returncode})")
            return
        self.proc.terminate()
        self.proc.wait(timeout=10)


class WorkDir:
    def __init__(self, name):
        self.path = tempfile.mkdtemp(prefix=f"streamrec-{name}-")

    def __call__(self, *parts):
        return os.path.join(self.path, *parts)

    def cleanup(self):
        shutil.rmtree(self.path, ignore_errors=True)


def produce(bootstrap, messages, topic="events"):
    """Sends (key, value) pairs with kafka-python; values are str or bytes."""
    # Retries keep the order per partition with one request in flight; every send is confirmed.
    p = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5, retries=10,
                      max_in_flight_requests_per_connection=1)
    futures = []
    for key, value in messages:
        v = value.encode() if isinstance(value, str) else value
        k = key.encode() if isinstance(key, str) else key
        futures.append(p.send(topic, key=k, value=v))
    p.flush(timeout=60)
    for f in futures:
        f.get(timeout=60)  # raises if a message was not delivered
    p.close()


def as_messages(events):
    """Event dicts as (key = user id, JSON value) pairs for produce()."""
    return [(e["user_id"], json.dumps(e)) for e in events]


def wait_for_text(path, text, timeout=60):
    """True once `text` appears in the file at `path` (a child's log), False after `timeout` s."""
    end = time.time() + timeout
    while time.time() < end:
        with open(path) as f:
            if text in f.read():
                return True
        time.sleep(0.1)
    return False


def grep_ints(path, pattern):
    """The first group of `pattern` (a regex with one integer group) on every line of the file at `path`."""
    with open(path) as f:
        return [int(m.group(1)) for m in re.finditer(pattern, f.read())]


def wait_until(fn, timeout):
    """True once fn() is true (polled every 0.2 s), False after `timeout` s."""
    end = time.time() + timeout
    while time.time() < end:
        if fn():
            return True
        time.sleep(0.2)
    return False


def metrics(port):
    """{name with labels: value} of a `streamrec run`'s /metrics on 127.0.0.1:port; {} while it does not answer."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
            text = r.read().decode()
    except OSError:
        return {}
    return {name: float(value) for name, value in
            (line.rsplit(" ", 1) for line in text.splitlines() if line and not line.startswith("#"))}


def end_offsets(bootstrap, topic="events"):
    c = KafkaConsumer(bootstrap_servers=bootstrap)
    parts = [TopicPartition(topic, p) for p in c.partitions_for_topic(topic)]
    ends = c.end_offsets(parts)
    c.close()
    return {f"{topic}/{tp.partition}": off for tp, off in ends.items() if off > 0}


def beginning_offsets(bootstrap, topic, partitions):
    """{partition: the broker's log start} of partitions 0..partitions-1 of `topic`."""
    c = KafkaConsumer(bootstrap_servers=bootstrap)
    starts = c.beginning_offsets([TopicPartition(topic, p) for p in range(partitions)])
    c.close()
    return {tp.partition: off for tp, off in starts.items()}


def consume_all(bootstrap, topic):
    """Every message of `topic`, read with kcat, as dicts (key, payload, headers, partition, offset)."""
    out = subprocess.run(["kcat", "-b", bootstrap, "-C", "-t", topic, "-e", "-q", "-J"],
                         capture_output=True, text=True, timeout=120, check=True).stdout
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def run_pipeline(bootstrap, data_dir, idle_ms=2500, extra=(), timeout=300):
    """`streamrec run` until it has been idle for `idle_ms`; returns the CompletedProcess."""
    cmd = [STREAMREC, "run", "--bootstrap", bootstrap, "--data-dir", data_dir,
           "--exit-when-idle-ms", str(idle_ms), *FAST_GROUP, *extra]
    started = time.time()
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    log(f"run exited {res.returncode} after {time.time() - started:.1f}s")
    if res.returncode != 0:
        print(res.stderr[-4000:])
    return res


def state(data_dir):
    res = subprocess.run([STREAMREC, "state", "--data-dir", data_dir, "--json"],
                         capture_output=True, text=True, timeout=60)
    if res.returncode != 0:
        raise RuntimeError(f"streamrec state failed: {res.stderr.strip()}")
    return json.loads(res.stdout)


def event_offsets(st, topic="events"):
    """The stored offsets of the events topic (the state changelog's positions left out)."""
    return {k: v for k, v in st["offsets"].items() if k.startswith(topic + "/")}


def generate(work, users, items, events, seed=7):
    """Generated events as parsed dicts plus the planted truth {id: segment}."""
    events_path, truth_path = work("gen.jsonl"), work("truth.csv")
    subprocess.run([STREAMREC, "generate", "--users", str(users), "--items", str(items),
                    "--events", str(events), "--seed", str(seed), "--out", events_path,
                    "--truth", truth_path], check=True, capture_output=True, timeout=60)
    with open(events_path) as f:
        evs = [json.loads(line) for line in f]
    truth = {}
    with open(truth_path) as f:
        next(f)
        for line in f:
            kind, ident, segment, _ = line.rstrip("\n").split(",")
            truth[ident] = int(segment)
    return evs, truth


class Checks:
    """Collects failed assertions so one run reports all of them."""

    def __init__(self):
        self.failed = 0
        self.passed = 0

    def check(self, cond, what):
        """Counts and logs one check; returns `cond`."""
        if cond:
            self.passed += 1
            log(f"ok: {what}")
        else:
            self.failed += 1
            log(f"FAILED: {what}")
        return cond

    def finish(self):
        """Exits 1 when a check failed, or when none ran: a test that checked nothing did not pass.
        Called from a `finally:` while an exception propagates (a test that broke half-way), it
        reports the exception and fails: its sys.exit would otherwise swallow it."""
        broken = sys.exc_info()[1]
        if broken is not None and not isinstance(broken, SystemExit):
            traceback.print_exc()
            self.failed += 1
            log(f"FAILED: the test stopped on {type(broken).__name__}: {broken}")
        print(f"{self.passed} passed, {self.failed} failed")
        if not self.passed and not self.failed:
            log("FAILED: no check ran")
        sys.exit(1 if self.failed or not self.passed else 0)
