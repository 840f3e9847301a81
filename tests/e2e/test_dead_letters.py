"""A message too big for the dead-letter topic never stops the pipeline.

A 2 MB message (the consumer accepts it; the dead-letter producer's
message.max.bytes is 1 MB) and one with a 10 kB key arrive among valid events.
Before the fix the DLQ produce failed with a non-retryable error, `run` exited,
and a restart met the same offset again: a crash loop from one message. Now the
dead letter is truncated to decoder.dead_letter_max_bytes with headers that give
the original sizes and the FNV-1a 64 of the whole value, the valid events are all
applied, and the offsets reach the end of the log. Written with kafka-python,
read back with kcat.

On real Kafka (STREAMREC_E2E_BROKER=kafka) the topics' own limits are the
broker's: `events` accepts 4 MiB, `events.dlq` only 64 KiB (its
max.message.bytes), below the 256 KiB cut. Before the fix the broker refused
the letter (MESSAGE_TOO_LARGE), the retried flush found nothing in flight, and
the letter was lost while its offset was committed; now it is sent again cut
in half until the topic takes it (32 KiB).

Producer-side partitioning is checked on the way: three events without a key,
one whose key is not its user_id (dead-lettered) and a user whose two events
come on two partitions are each said once in the log and counted in the
stop summary."""

import json

from kafka import KafkaProducer

import harness
from harness import log

VALID = 2000
UNKEYED = 3


def fnv1a64(data):
    h = 0xcbf29ce484222325
    for b in data:
        h = ((h ^ b) * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
    return f"{h:016x}"


def main():
    t = harness.Checks()
    work = harness.WorkDir("dead_letters")
    dlq_limit = 64 * 1024
    broker = harness.Broker(partitions=2, topic_config={"events": {"max.message.bytes": 4 << 20},
                                                        "events.dlq": {"max.message.bytes": dlq_limit}})
    # The letter's payload: the 256 KiB cut, halved until the topic takes it (value and headers).
    payload = 256 * 1024
    while harness.BACKEND == "kafka" and payload + 400 > dlq_limit:
        payload //= 2
    try:
        events, _ = harness.generate(work, users=200, items=100, events=VALID)
        big = (b'{"user_id":"u1","item_id":"' + b"x" * 2_000_000 + b'"}')
        p = KafkaProducer(bootstrap_servers=broker.bootstrap, acks="all", max_request_size=8 << 20, retries=5)
        for k, e in enumerate(events):
            p.send("events", key=e["user_id"].encode(), value=json.dumps(e).encode())
            if k == VALID // 2:
                p.send("events", key=b"u1", value=big)
                p.send("events", key=b"k" * 10_000, value=b"not json")
        for k in range(UNKEYED):
            p.send("events", value=json.dumps({"user_id": f"nokey-{k}", "item_id": "i1", "type": "click"}).encode())
        p.send("events", key=b"someone-else", value=json.dumps({"user_id": "mismatch", "item_id": "i1", "type": "click"}).encode())
        for partition in (0, 1):
            p.send("events", key=b"moved", partition=partition,
                   value=json.dumps({"user_id": "moved", "item_id": f"i{partition + 2}", "type": "click"}).encode())
        p.flush()
        p.close()
        res = harness.run_pipeline(broker.bootstrap, work("data"))
        t.check(res.returncode == 0, f"run exits cleanly after the oversized messages ({res.returncode})")
        st = harness.state(work("data"))
        valid = VALID + UNKEYED + 2
        t.check(st["applied_events"] == valid, f"all {valid} valid events applied ({st['applied_events']})")
        for warning in ("events without a key (first:", "whose key is not their user_id (first:",
                        "user 'moved' had events on events partition"):
            said = res.stderr.count(warning)
            t.check(said == 1, f"said once in the log: '{warning}' ({said})")
        t.check(f"partitioning this run: {UNKEYED} events without a key, 1 with a key that is not their user_id, "
                "1 events of a user on another partition" in res.stderr,
                "the stop summary counts the unkeyed, mismatched and moved events")
        ends = harness.end_offsets(broker.bootstrap)
        t.check(harness.event_offsets(st) == ends, f"offsets at the end of the log {ends}")
        letters = harness.consume_all(broker.bootstrap, "events.dlq")
        t.check(len(letters) == 3, f"the three rejected messages are dead letters ({len(letters)})")
        by_reason = {}
        for m in letters:
            headers = dict(zip(m["headers"][0::2], m["headers"][1::2])) if m.get("headers") else {}
            by_reason[headers.get("reason", "")] = (m, headers)
        t.check("key_mismatch:user_id" in by_reason, f"the mismatched key's reason ({sorted(by_reason)})")
        m, h = by_reason.get("oversized", ({}, {}))
        t.check(h.get("truncated") == "true" and h.get("original.value_bytes") == str(len(big)),
                f"the 2 MB letter is truncated and says its size ({ {k: v for k, v in h.items() if k != 'reason'} })")
        t.check(h.get("original.value_fnv1a64") == fnv1a64(big), "its header carries the whole value's FNV-1a 64")
        got = (m.get("payload") or "").encode()
        t.check(len(got) == payload and big.startswith(got), f"its payload is the first {payload} bytes ({len(got)})")
        keyed = [(m, h) for m, h in by_reason.values() if h.get("original.key_bytes") == "10000"]
        t.check(len(keyed) == 1 and len(keyed[0][0]["key"]) == 4096, "a 10 kB key is cut to 4 KiB and says so")
    finally:
        broker.stop()
        work.cleanup()
        t.finish()


if __name__ == "__main__":
    main()
