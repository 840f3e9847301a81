"""A reader of `recommendations` from the beginning finds every user's latest list,
on the embedded broker too.

librdkafka's mock cluster keeps only the newest ~5 MB of each partition and has no
log compaction; `streamrec broker` compacts its compacted topics itself (it copies
each key's latest record forward before it ages out). Two `streamrec run` in one
group work through 60,000 events of 3,000 users streamed at 3,000/s, publishing
far more than 5 MB of lists per partition; a cache warmer tails the topic from
the beginning the whole time (kafka-python) and keeps each user's highest `seq`.
Afterwards a fresh reader from the beginning (kcat) must find, for every user,
a list with exactly that `seq`, although the broker dropped the topic's oldest
records (its low watermark moved). Then a topic holding more latest records than
the broker can keep stops `streamrec broker` with a clear error."""

import json
import subprocess
import threading
import time

from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.errors import KafkaError

import harness
from harness import log

PARTITIONS = 6
USERS = 3000
EVENTS = 60000


class Warmer(threading.Thread):
    """A cache warmer: tails `recommendations` from the beginning, keeps each user's highest seq."""

    def __init__(self, bootstrap):
        super().__init__(daemon=True)
        self.bootstrap = bootstrap
        self.highest = {}
        self.records = 0
        self.stop = False

    def run(self):
        c = KafkaConsumer(bootstrap_servers=self.bootstrap, enable_auto_commit=False, auto_offset_reset="earliest",
                          max_poll_records=5000)
        c.assign([TopicPartition("recommendations", p) for p in range(PARTITIONS)])
        while not self.stop:
            for records in c.poll(timeout_ms=200).values():
                for r in records:
                    self.records += 1
                    if r.value:
                        seq = json.loads(r.value)["seq"]
                        user = r.key.decode()
                        self.highest[user] = max(seq, self.highest.get(user, 0))
        c.close()


def main():
    t = harness.Checks()
    work = harness.WorkDir("compaction")
    broker = harness.Broker(partitions=PARTITIONS)
    runs = []
    warmer = Warmer(broker.bootstrap)
    try:
        events, _ = harness.generate(work, users=USERS, items=2000, events=EVENTS)
        with open(work("events.jsonl"), "w") as f:
            for e in events:
                f.write(json.dumps(e) + "\n")
        warmer.start()
        for i in range(2):
            runs.append(subprocess.Popen([harness.STREAMREC, "run", "--bootstrap", broker.bootstrap,
                                          "--data-dir", work(f"data{i}"), "--exit-when-idle-ms", "6000",
                                          # The default group: its state topic is the broker's (as wide as `events`).
                                          *harness.FAST_GROUP],
                                         stdout=subprocess.DEVNULL, stderr=open(work(f"run{i}.log"), "w")))
        started = time.time()
        subprocess.run([harness.STREAMREC, "produce", "--bootstrap", broker.bootstrap, "--file",
                        work("events.jsonl"), "--rate", "3000"], check=True, capture_output=True, timeout=300)
        log(f"{EVENTS} events streamed in {time.time() - started:.1f} s")
        codes = [r.wait(timeout=300) for r in runs]
        t.check(codes == [0, 0], f"both instances exit cleanly ({codes})")
        time.sleep(2)  # the compactor's last copies
        warmer.stop = True
        warmer.join(timeout=30)

        lows = harness.beginning_offsets(broker.bootstrap, "recommendations", PARTITIONS)
        log(f"recommendations: low watermarks {lows}; the warmer read {warmer.records} records")
        t.check(all(low > 0 for low in lows.values()),
                f"the broker dropped the oldest lists of every partition (low watermarks {lows})")
        latest = {}
        for m in harness.consume_all(broker.bootstrap, "recommendations"):
            if m["payload"]:
                latest[m["key"]] = json.loads(m["payload"])["seq"]
        users = {e["user_id"] for e in events}
        missing = [u for u in users if u not in latest]
        t.check(not missing, f"every one of {len(users)} users has a list from the beginning ({len(missing)} without)")
        stale = [u for u in users if u in latest and latest[u] != warmer.highest.get(u)]
        t.check(not stale, f"each user's list read from the beginning is their latest ({len(stale)} older: "
                           f"{[(u, latest[u], warmer.highest.get(u)) for u in stale[:3]]})")
    finally:
        warmer.stop = True
        for r in runs:
            if r.poll() is None:
                r.kill()
        broker.stop()
    check_over_capacity(t, work)
    work.cleanup()
    t.finish()


def check_over_capacity(t, work):
    """More latest records than a partition keeps: the broker says so and stops, instead of losing them."""
    broker = harness.Broker(partitions=1, log_path=work("broker.log"))
    try:
        pad = "x" * 400
        # ~7 MB of distinct keys into one partition: more than 40 % of its ~5 MB log.
        # The broker stops part way: deliveries after that are not waited for.
        p = KafkaProducer(bootstrap_servers=broker.bootstrap, linger_ms=5, request_timeout_ms=5000,
                          max_block_ms=5000)
        for k in range(15000):
            try:
                p.send("recommendations", key=f"user-{k}".encode(), value=pad.encode())
            except KafkaError:
                break
        p.close(timeout=5)
        code = broker.proc.wait(timeout=60)
        t.check(code == 3, f"streamrec broker exits with 3 when a compacted partition is over its capacity ({code})")
        with open(work("broker.log")) as f:
            text = f.read()
        t.check("compacted topic recommendations holds" in text and "more partitions" in text,
                f"and says why, and what to do: {text.strip().splitlines()[-1:]}")
    except subprocess.TimeoutExpired:
        t.check(False, "streamrec broker stops when a compacted partition is over its capacity")
    finally:
        if broker.proc.poll() is None:
            broker.stop()


if __name__ == "__main__":
    main()
