"""End to end: kafka-python writes events (valid and malformed) to `streamrec broker`,
`streamrec run` processes them, kcat reads the lists and the dead letters back.
Then more events, a SIGTERM mid-stream, a restart, and the stored state is checked."""

import json
import signal
import subprocess
import time
from collections import defaultdict

import harness
from harness import log

MALFORMED = [
    (b"u1", b'{"user_id":"u1","item_id":"i1","type":"view"', "bad_json"),
    (b"u2", b'{"user_id":"u2","type":"view"}', "missing_field:item_id"),
    (b"u3", b'{"user_id":"u3","item_id":"i3","type":"wishlist"}', "bad_type:type"),
    (b"u4", b'{"user_id":"","item_id":"i4","type":"view"}', "empty_field:user_id"),
    (None, b"x" * 70000, "oversized"),
    (b"u5", b'{"user_id":"u6","item_id":"i5","type":"view"}', "key_mismatch:user_id"),
    (b"u7", b'{"user_id":"u7","item_id":"i7","type":"view","ts":"tomorrow"}', "bad_timestamp:ts"),
]



def latest_lists(recs):
    """user -> (seq, list payload) of the highest seq; also checks seq grows per user."""
    latest, ordered = {}, True
    for m in recs:  # kcat returns each partition in offset order
        p = json.loads(m["payload"])
        prev = latest.get(p["user_id"])
        if prev and p["seq"] <= prev[0] and m["partition"] == prev[2]:
            ordered = False
        latest[p["user_id"]] = (p["seq"], p, m["partition"])
    return latest, ordered


def main():
    t = harness.Checks()
    work = harness.WorkDir("e2e")
    broker = harness.Broker(partitions=4)
    data = work("data")
    try:
        events, truth = harness.generate(work, users=300, items=600, events=30000)
        first, second = events[:20000], events[20000:]

        # Phase 1: valid events with malformed ones interleaved.
        msgs = harness.as_messages(first)
        for k, (key, value, _) in enumerate(MALFORMED):
            msgs.insert(1000 + k * 2500, (key, value))
        harness.produce(broker.bootstrap, msgs)
        res = harness.run_pipeline(broker.bootstrap, data)
        t.check(res.returncode == 0, "run exits 0 when idle")
        st = harness.state(data)
        t.check(st["applied_events"] == len(first), f"applied {st['applied_events']} == {len(first)} valid events")
        t.check(st["rejected_events"] == len(MALFORMED), f"rejected {st['rejected_events']} == {len(MALFORMED)}")
        t.check(harness.event_offsets(st) == harness.end_offsets(broker.bootstrap), "stored offsets == end of every partition")

        dlq = harness.consume_all(broker.bootstrap, "events.dlq")
        reasons = sorted(m["headers"][1] if isinstance(m["headers"], list) else m["headers"]["reason"] for m in dlq)
        t.check(reasons == sorted(r for _, _, r in MALFORMED), f"DLQ reasons {reasons}")
        t.check(all("source.offset" in (m["headers"] if isinstance(m["headers"], dict) else m["headers"][::2])
                    for m in dlq), "DLQ messages carry their source offset")
        originals = {v for _, v, _ in MALFORMED if len(v) < 1000}
        t.check(originals <= {m["payload"].encode() for m in dlq}, "DLQ keeps the original bytes")

        recs = harness.consume_all(broker.bootstrap, "recommendations")
        latest, ordered = latest_lists(recs)
        users = {e["user_id"] for e in first}
        t.check(users == set(latest), f"every user with events has a list ({len(latest)}/{len(users)})")
        t.check(ordered, "seq grows per user")
        t.check(all(m["key"] == json.loads(m["payload"])["user_id"] for m in recs), "key = user id")
        touched = defaultdict(set)
        for e in first:
            touched[e["user_id"]].add(e["item_id"])
        leaks = sum(1 for u, (_, p, _) in latest.items() for it in p["items"] if it["item_id"] in touched[u])
        t.check(leaks == 0, f"lists leave out touched items ({leaks} leaks)")
        t.check(all(len(p["items"]) == 20 for _, p, _ in latest.values()), "lists have N=20 items")

        # Planted structure: active users get mostly items of their own segment.
        counts = defaultdict(int)
        for e in first:
            counts[e["user_id"]] += 1
        active = [u for u in latest if counts[u] >= 40]
        shares = [sum(truth[i["item_id"]] == truth[u] for i in latest[u][1]["items"]) / 20 for u in active]
        mean_share = sum(shares) / len(shares)
        t.check(len(active) >= 50 and mean_share >= 0.6,
                f"{len(active)} active users: {mean_share:.2f} of list items from their segment (chance 0.125)")

        # Phase 2: more events at a pace, SIGTERM mid-stream, then restart to the end.
        paced = subprocess.Popen([harness.STREAMREC, "run", "--bootstrap", broker.bootstrap, "--data-dir", data,
                                  *harness.FAST_GROUP], stderr=subprocess.PIPE, text=True)
        time.sleep(6)  # let it join the group
        harness.produce(broker.bootstrap, harness.as_messages(second[:5000]))
        time.sleep(2)
        paced.send_signal(signal.SIGTERM)
        _, err = paced.communicate(timeout=60)
        t.check(paced.returncode == 0, f"SIGTERM: clean exit (code {paced.returncode})")
        mid = harness.state(data)["applied_events"]
        log(f"applied after SIGTERM: {mid}")
        harness.produce(broker.bootstrap, harness.as_messages(second[5000:]))
        res = harness.run_pipeline(broker.bootstrap, data)
        st = harness.state(data)
        t.check(st["applied_events"] == len(events), f"after restart applied {st['applied_events']} == {len(events)}")
        t.check(harness.event_offsets(st) == harness.end_offsets(broker.bootstrap), "offsets at the end after restart")
        t.check(st["users"] == len({e["user_id"] for e in events}), "one state record per user")
        t.check(st["items"] == len({e["item_id"] for e in events}), "one state record per item")
    finally:
        broker.stop()
        work.cleanup()
    t.finish()


if __name__ == "__main__":
    main()
