"""Every user who sent an event gets a non-empty list, from the first event on.

A slice of a real shop log (../shared/datasets/taobao_userbehavior_users: most of
its users have only a few events in any slice) is loaded into the embedded
broker and replayed through `streamrec run` with its defaults; a reader of
`recommendations` from the beginning (kcat) must find, for every user of the
slice, a latest list that holds at least one item. The shared datasets are part
of the project's machines: a missing log fails the test, it does not skip."""

import collections
import json
import os

import harness
from harness import log

DATASET = os.path.normpath(os.path.join(os.path.dirname(__file__), "..", "..", "..", "shared", "datasets",
                                        "taobao_userbehavior_users", "events.csv"))
EVENTS = 12_000


def main():
    t = harness.Checks()
    work = harness.WorkDir("first_lists")
    # Enough partitions that every list stays inside the embedded broker's ~5 MB a partition.
    broker = harness.Broker(partitions=8)
    try:
        if not os.path.exists(DATASET):
            t.check(False, f"the shared log {DATASET} exists")
            return
        with open(DATASET) as f:
            lines = [next(f) for _ in range(EVENTS + 1)]
        with open(work("slice.csv"), "w") as f:
            f.writelines(lines)
        users = collections.Counter(line.split(",")[1] for line in lines[1:])
        log(f"{EVENTS} events of {len(users)} users, {sum(1 for n in users.values() if n == 1)} with one event")
        harness.subprocess.run([harness.STREAMREC, "produce", "--bootstrap", broker.bootstrap,
                                "--file", work("slice.csv")], check=True, capture_output=True, timeout=120)
        res = harness.run_pipeline(broker.bootstrap, work("data"))
        t.check(res.returncode == 0, f"streamrec run exits cleanly ({res.returncode})")
        latest = {}
        for m in harness.consume_all(broker.bootstrap, "recommendations"):
            latest[m["key"]] = json.loads(m["payload"])
        without = [u for u in users if u not in latest]
        empty = [u for u in users if u in latest and not latest[u]["items"]]
        t.check(not without, f"every one of {len(users)} users has a list ({len(without)} without: {without[:5]})")
        t.check(not empty, f"every user's latest list holds items ({len(empty)} empty: {empty[:5]})")
        singles = [u for u, n in users.items() if n == 1 and u in latest]
        t.check(singles and all(latest[u]["items"] for u in singles),
                f"users with a single event get items too ({len(singles)} of them)")
    finally:
        broker.stop()
        work.cleanup()
        t.finish()


if __name__ == "__main__":
    main()
