"""Topic contracts checked at start, on real Apache Kafka.

A cluster where someone made `recommendations` with the delete policy and
`streamrec.state` with fewer partitions than `events`: `streamrec topics create`
makes the missing topics and reports both breaches (exit 1); `streamrec run`
refuses to start (exit 2, within seconds) naming both, with the fix. Once an
operator mends them (cleanup.policy altered, partitions added, through an
independent admin client), `topics check` passes, `run` starts and every user
gets a list. A fresh cluster: `topics create` makes every topic with the
configs the contract asks for (compacted ones compacted, the state changelog's
min.compaction.lag.ms), and a second `create` changes nothing."""

import json
import subprocess
import time

from confluent_kafka.admin import AdminClient, ConfigResource, NewPartitions

import harness
from harness import log
from real_kafka import RealKafka

COMPACTED = ["recommendations", "streamrec.state", "catalog", "similar-items", "bought-together", "trending"]


def topics(kafka, action, *extra):
    res = subprocess.run([harness.STREAMREC, "topics", action, "--bootstrap", kafka.bootstrap, *extra],
                         capture_output=True, text=True, timeout=60)
    log(f"topics {action} exited {res.returncode}:\n{res.stdout}{res.stderr}")
    return res


def configs(kafka, names):
    admin = AdminClient({"bootstrap.servers": kafka.bootstrap})
    futures = admin.describe_configs([ConfigResource("topic", n) for n in names])
    return {res.name: {k: e.value for k, e in f.result(timeout=30).items()} for res, f in futures.items()}


def broken_cluster(t, work):
    with RealKafka() as kafka:
        kafka.create_topic("recommendations", 4)  # the delete policy
        kafka.create_topic("streamrec.state", 2, compacted=True)
        res = topics(kafka, "create", "--partitions", "4")
        t.check(res.returncode == 1, f"topics create reports the breaches with exit 1 ({res.returncode})")
        t.check("created  events: 4 partitions" in res.stdout and "exists   recommendations" in res.stdout,
                "topics create made the missing topics and left the existing ones")
        started = time.monotonic()
        run = subprocess.run([harness.STREAMREC, "run", "--bootstrap", kafka.bootstrap, "--data-dir", work("data"),
                              *harness.FAST_GROUP], capture_output=True, text=True, timeout=60)
        took = time.monotonic() - started
        t.check(run.returncode == 2 and took < 20, f"run refuses to start: exit 2 in {took:.1f} s ({run.returncode})")
        t.check("topic recommendations is not compacted" in run.stderr and "cleanup.policy=compact" in run.stderr,
                "run names the uncompacted recommendations topic and the fix")
        t.check("streamrec.state has 2 partitions, fewer than the 4 of events" in run.stderr,
                "run names the state changelog's missing partitions")

        admin = AdminClient({"bootstrap.servers": kafka.bootstrap})
        resource = ConfigResource("topic", "recommendations", set_config={"cleanup.policy": "compact"})
        admin.alter_configs([resource])[resource].result(timeout=30)
        admin.create_partitions([NewPartitions("streamrec.state", 4)])["streamrec.state"].result(timeout=30)
        t.check(harness.wait_until(lambda: topics(kafka, "check").returncode == 0, 30),
                "topics check passes once an operator mended both")
        events, _ = harness.generate(work, 50, 200, 500)
        harness.produce(kafka.bootstrap, harness.as_messages(events))
        res = harness.run_pipeline(kafka.bootstrap, work("data"))
        t.check(res.returncode == 0, f"run starts and exits cleanly on the mended topics ({res.returncode})")
        latest = {m["key"]: json.loads(m["payload"]) for m in harness.consume_all(kafka.bootstrap, "recommendations")}
        users = {e["user_id"] for e in events}
        t.check(all(latest.get(u, {}).get("items") for u in users), f"all {len(users)} users have a list")


def fresh_cluster(t):
    with RealKafka() as kafka:
        res = topics(kafka, "create", "--partitions", "3", "--group", "other")
        t.check(res.returncode == 0 and res.stdout.count("created  ") == 11,
                f"topics create on a fresh cluster makes all 11 topics and passes ({res.returncode})")
        deleting = ["events", "events.dlq", "streamrec.items", "other.items"]
        found = configs(kafka, COMPACTED + deleting + ["other.state"])
        wrong = [n for n in COMPACTED + ["other.state"] if found[n]["cleanup.policy"] != "compact"]
        wrong += [n for n in deleting if found[n]["cleanup.policy"] != "delete"]
        t.check(not wrong, f"every topic has the cleanup policy the contract asks for (wrong: {wrong})")
        lag = {n: found[n]["min.compaction.lag.ms"] for n in ("streamrec.state", "other.state")}
        t.check(set(lag.values()) == {"600000"}, f"the state changelogs keep 10 min out of compaction ({lag})")
        again = topics(kafka, "create", "--partitions", "3")
        t.check(again.returncode == 0 and "created" not in again.stdout, "a second create changes nothing")


def main():
    t = harness.Checks()
    work = harness.WorkDir("topics")
    try:
        broken_cluster(t, work)
        fresh_cluster(t)
    finally:
        work.cleanup()
        t.finish()


if __name__ == "__main__":
    main()
