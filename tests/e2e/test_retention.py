"""Events the broker deleted before streamrec read them are detected, not silently skipped.

The embedded broker keeps only the newest ~5 MB of a partition (about 50,000 of
these events): 60,000 events produced to one partition before `streamrec run` starts leave its log start
past offset 0. Before, run applied what was left, reported 0 rejected and said
nothing. Now the gap between the stored position (0) and the broker's log start
is logged as an error naming the partition and the range, counted
(`streamrec_events_lost_total`, /health "degraded"), and applied + lost add up to
what was produced. Produced with kafka-python; the log start read with it too.

On real Kafka (STREAMREC_E2E_BROKER=kafka) `events` gets 1 MB segments and a 2 MB
retention, checked every second from the start: the broker deletes the oldest
segments itself."""

import re
import time

import harness
from harness import log

EVENTS = 60_000


def main():
    t = harness.Checks()
    work = harness.WorkDir("retention")
    broker = harness.Broker(partitions=1,
                            topic_config={"events": {"segment.bytes": 1048576, "retention.bytes": 2097152}},
                            broker_config={"log.retention.check.interval.ms": 1000, "log.initial.task.delay.ms": 0})
    try:
        events, _ = harness.generate(work, users=500, items=200, events=EVENTS)
        harness.produce(broker.bootstrap, harness.as_messages(events))
        # Real Kafka deletes segments on its retention checks, a few at a time: the
        # log start is read once two readings 3 s apart agree.
        seen = [-1]

        def settled():
            now = harness.beginning_offsets(broker.bootstrap, "events", 1)[0]
            same, seen[0] = now == seen[0], now
            if not same:
                time.sleep(3)
            return same

        harness.wait_until(settled, timeout=60)
        start = seen[0]
        log(f"the broker's log starts at offset {start} of {EVENTS}")
        t.check(start > 0, f"the broker dropped the oldest events (log start {start})")
        res = harness.run_pipeline(broker.bootstrap, work("data"))
        t.check(res.returncode == 0, f"run exits cleanly ({res.returncode})")
        m = re.search(r"events/0: offsets (\d+)\.\.(\d+) \((\d+) messages\) were deleted by the broker", res.stderr)
        t.check(m is not None and int(m.group(1)) == 0 and int(m.group(2)) == start - 1,
                f"the log names the partition and the lost range 0..{start - 1} ({m.group(0) if m else None})")
        st = harness.state(work("data"))
        lost = int(m.group(3)) if m else 0
        t.check(st["applied_events"] + lost == EVENTS,
                f"applied {st['applied_events']} + lost {lost} == {EVENTS} produced")
        t.check(harness.event_offsets(st) == {"events/0": EVENTS}, f"offsets at the end {harness.event_offsets(st)}")
    finally:
        broker.stop()
        work.cleanup()
        t.finish()


if __name__ == "__main__":
    main()
