"""Hostile input: a million messages, most of them random or mutated (bit flips,
truncations, wrong types, missing fields, control characters, over-long ids,
oversized payloads, floods of never-seen users), interleaved with valid events,
stream through `streamrec run`. Properties checked:

- nothing crashes: the pipeline exits cleanly when the stream ends;
- every message is accounted for exactly once: applied + dead-lettered = sent;
- every dead letter carries a known reason and its source position, and its bytes
  are the original message's;
- no untouched valid event is dead-lettered;
- memory stays bounded by the user cache however many new user ids arrive.

Sent with confluent-kafka (delivery reports give each message's offset); the DLQ is
read concurrently, since the embedded broker keeps only ~100k messages a partition."""

import json
import os
import random
import subprocess
import threading
import time
import zlib

from confluent_kafka import Consumer, Producer, TopicPartition

import harness
from harness import log

TOTAL = int(os.environ.get("STREAMREC_HOSTILE_MESSAGES", "1000000"))
RATE = int(20000 * harness.RATE_SCALE)  # messages/s
CACHE = 20000  # users kept in memory
REASONS = ("oversized", "empty_message", "bad_json", "not_object", "missing_field:", "empty_field:",
           "bad_field:", "id_too_long:", "bad_type:", "bad_timestamp:", "key_mismatch:")
TYPES = ("view", "cart", "purchase")


def valid_event(rng, k):
    user = f"u{rng.randrange(50000)}" if rng.random() < 0.7 else f"flood-{k}"  # many never-seen users
    return {"user_id": user, "item_id": f"i{int(rng.paretovariate(1.2)) % 20000}",
            "type": rng.choice(TYPES), "ts": 1_700_000_000_000 + k}


def mutate(rng, e):
    """A message derived from a valid event; it may or may not still be valid."""
    raw = json.dumps(e).encode()
    kind = rng.randrange(12)
    if kind == 0:  # flip bytes
        b = bytearray(raw)
        for _ in range(rng.randint(1, 4)):
            b[rng.randrange(len(b))] ^= 1 << rng.randrange(8)
        return bytes(b)
    if kind == 1:
        return raw[:rng.randrange(len(raw))]
    if kind == 2:
        at = rng.randrange(len(raw))
        return raw[:at] + os.urandom(rng.randint(1, 8)) + raw[at:]
    if kind == 3:
        e = dict(e)
        del e[rng.choice(["user_id", "item_id", "type", "ts"])]
    elif kind == 4:
        e = dict(e, **{rng.choice(["user_id", "item_id", "type", "ts"]): rng.choice([1.5, None, [], {}, True, -7, ""])})
    elif kind == 5:
        e = dict(e, user_id=e["user_id"] + "\u0001")
    elif kind == 6:
        e = dict(e, item_id="x" * rng.randint(257, 2000))
    elif kind == 7:
        e = dict(e, ts=rng.choice(["tomorrow", "2024-13-45T99:00:00Z", -5, "1e400"]))
    elif kind == 8:
        e = dict(e, type=rng.choice(["wishlist", "VIEW", "", "buy"]))
    elif kind == 9:
        return json.dumps([e["user_id"], e["item_id"]]).encode()
    elif kind == 10:
        return rng.choice([b"", b"null", b"{}", b"[]", b"\xff\xfe\x00", b'{"user_id":"u1",'])
    else:
        return json.dumps(dict(e, pad="p" * 70000)).encode() if rng.random() < 0.05 else os.urandom(rng.randint(1, 300))
    return json.dumps(e).encode()


class Sent:
    """What was produced, by position: crc of the bytes, and whether it was an untouched valid event."""

    def __init__(self):
        self.crc = {}
        self.clean = set()
        self.failed = 0

    def report(self, clean, value):
        def cb(err, msg):
            if err is not None:
                self.failed += 1
                return
            pos = (msg.partition(), msg.offset())
            self.crc[pos] = zlib.crc32(value)
            if clean:
                self.clean.add(pos)
        return cb


def produce(bootstrap, sent, done):
    rng = random.Random(11)
    p = Producer({"bootstrap.servers": bootstrap, "linger.ms": 20, "enable.idempotence": True,
                  "partitioner": "murmur2_random", "message.max.bytes": 200000})
    start = time.time()
    for k in range(TOTAL):
        if k % 2000 == 0:
            time.sleep(max(0.0, start + k / RATE - time.time()))
            p.poll(0)
        e = valid_event(rng, k)
        clean = rng.random() < 0.4
        value = json.dumps(e).encode() if clean else mutate(rng, e)
        keyed = rng.random() < 0.9  # else a random key: key_mismatch unless it happens to match
        key = e["user_id"].encode() if keyed else os.urandom(rng.randint(0, 20))
        clean = clean and keyed
        while True:
            try:
                p.produce("events", key=key, value=value, on_delivery=sent.report(clean, value))
                break
            except BufferError:
                p.poll(0.05)
    p.flush(120)
    done.set()


def read_dlq(bootstrap, letters, stop):
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "dlq-reader", "enable.auto.commit": False})
    c.assign([TopicPartition("events.dlq", p, 0) for p in range(4)])
    while not stop.is_set():
        for m in c.consume(num_messages=10000, timeout=0.5):
            if m.error() is None:
                letters.append((dict(m.headers() or []), zlib.crc32(m.value() or b"")))
    c.close()


def peak_rss_mb(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except FileNotFoundError:  # it has just exited
        pass
    return 0.0


def main():
    t = harness.Checks()
    work = harness.WorkDir("hostile")
    # Floods of never-seen users: far more lists than the broker can keep compacted.
    broker = harness.Broker(partitions=4, compaction=False)
    run = None
    try:
        run = subprocess.Popen(
            [harness.STREAMREC, "run", "--bootstrap", broker.bootstrap, "--data-dir", work("data"),
             "--set", f"pipeline.user_cache_capacity={CACHE}", "--set", "pipeline.quality_sample=0",
             "--exit-when-idle-ms", "5000",
             *harness.FAST_GROUP], stdout=subprocess.DEVNULL, stderr=open(work("run.log"), "w"))
        t.check(harness.wait_for_text(work("run.log"), "assigned events/"), "pipeline joined the group")
        sent, letters = Sent(), []
        done, stop = threading.Event(), threading.Event()
        reader = threading.Thread(target=read_dlq, args=(broker.bootstrap, letters, stop))
        reader.start()
        started = time.time()
        producer = threading.Thread(target=produce, args=(broker.bootstrap, sent, done))
        producer.start()
        rss = 0.0
        while producer.is_alive():
            rss = max(rss, peak_rss_mb(run.pid))
            time.sleep(1)
        log(f"{TOTAL} messages sent in {time.time() - started:.0f}s ({sent.failed} failed delivery)")
        while run.poll() is None and time.time() - started < 1200:  # it exits once idle for 5 s
            rss = max(rss, peak_rss_mb(run.pid))
            time.sleep(1)
        code = run.wait(timeout=60)
        time.sleep(2)  # the DLQ reader drains
        stop.set()
        reader.join()
        t.check(code == 0 and sent.failed == 0, f"no crash: clean exit after the stream ({code})")

        st = harness.state(work("data"))
        applied, rejected = st["applied_events"], st["rejected_events"]
        t.check(applied + rejected == TOTAL, f"applied {applied} + dead-lettered {rejected} == {TOTAL} sent")
        positions = [(int(h.get("source.partition", b"-1")), int(h.get("source.offset", b"-1"))) for h, _ in letters]
        t.check(len(letters) == rejected and len(set(positions)) == len(letters),
                f"{len(letters)} dead letters read, each once (store counted {rejected})")
        unknown = [h.get("reason") for h, _ in letters
                   if not (h.get("reason") or b"").decode().startswith(REASONS)]
        t.check(not unknown, f"every dead letter has a known reason ({unknown[:3]})")
        altered = [pos for pos, (_, crc) in zip(positions, letters) if sent.crc.get(pos) != crc]
        t.check(not altered, f"every dead letter holds its original bytes ({len(altered)} differ)")
        lost_valid = [pos for pos in positions if pos in sent.clean]
        t.check(not lost_valid and applied >= len(sent.clean),
                f"no untouched valid event dead-lettered; {len(sent.clean)} of them, {applied} applied in all")
        bound_mb = 1024 * harness.MEMORY_SCALE  # sanitizers' shadow memory
        t.check(st["users"] > CACHE and rss < bound_mb,
                f"{st['users']} users stored; peak RSS {rss:.0f} MB with a {CACHE}-user cache (bound: {bound_mb:.0f} MB)")
    finally:
        if run and run.poll() is None:
            run.kill()
        broker.stop()
        if t.failed:
            subprocess.run(f"grep -v ' info ' {work.path}/run.log | tail -n 20", shell=True)
        work.cleanup()
    t.finish()


if __name__ == "__main__":
    main()
