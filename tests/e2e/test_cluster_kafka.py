"""A partition leader SIGKILLed under load, on a three-broker Apache Kafka
cluster (KRaft; replication factor 3, min.insync.replicas 2; streamrec's
producers use acks=all and idempotence, librdkafka's defaults it keeps).

`streamrec run` consumes 45,000 events (+ malformed ones) sent at 1,000/s by an
idempotent confluent-kafka producer. 12 s in, the broker leading `events`
partition 0 is SIGKILLed (no controlled shutdown); 15 s later it is restarted.
Measured from outside (a kafka-python reader of `recommendations`): the longest
time without a list, overall and on the partitions the dead broker led, and how
long the producer itself had no event acknowledged (the shop's side of the gap).
streamrec exits after 30 s without events: the producer's own stall over the
leader change once outlasted a 10 s setting.

Checked: every event applied exactly once (the store's count, the changelog's
unbroken chains, each user's newest state holding exactly their events); every
user has lists whose seq never goes back and whose last is the highest; the
killed broker rejoined the ISR of every partition; streamrec exits cleanly."""

import json
import subprocess
import threading
import time

from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient

import group_checks
import harness
from harness import log
from real_kafka import KafkaCluster

EVENTS = 45_000
USERS = 2_000
PARTITIONS = 4
RATE = int(1000 * harness.RATE_SCALE)
GROUP = "shop"
DOWN_S = 15


def produce(bootstrap, lines, done, errors, delivered):
    """Sends at RATE; `delivered` gets the monotonic time of each acknowledged event."""
    p = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, "linger.ms": 20,
                  "partitioner": "murmur2_random"})

    def on_delivery(err, _):
        if err:
            errors.append(err)
        else:
            delivered.append(time.monotonic())

    start = time.time()
    for k, line in enumerate(lines):
        if k % 200 == 0:
            time.sleep(max(0.0, start + k / RATE - time.time()))
        p.produce("events", key=json.loads(line)["user_id"], value=line, on_delivery=on_delivery)
        if k % 3000 == 11:
            p.produce("events", key="u-bad", value='{"user_id": 7}')
        p.poll(0)
    p.flush(120)
    done.set()


def leaders(bootstrap, topic):
    """{partition: leader broker id} and {partition: in-sync replica ids}."""
    md = AdminClient({"bootstrap.servers": bootstrap}).list_topics(topic, timeout=10)
    parts = md.topics[topic].partitions
    return {p: v.leader for p, v in parts.items()}, {p: set(v.isrs) for p, v in parts.items()}


def coordinator(bootstrap, group):
    """The broker id of `group`'s coordinator (-1 when unknown)."""
    groups = AdminClient({"bootstrap.servers": bootstrap}).list_groups(group, timeout=10)
    return groups[0].broker.id if groups else -1


def three_brokers(bootstrap):
    return len(AdminClient({"bootstrap.servers": bootstrap}).list_topics(timeout=10).brokers) == 3


def main():
    t = harness.Checks()
    work = harness.WorkDir("cluster_kafka")
    cluster = KafkaCluster()
    proc, watcher = None, None
    try:
        log(f"three brokers up in {cluster.start_seconds:.1f} s")
        t.check(harness.wait_until(lambda: three_brokers(cluster.bootstrap), 60), "all three brokers registered")
        out = cluster.nodes[0].create_streamrec_topics(harness.STREAMREC, PARTITIONS, groups=[GROUP])
        t.check(out.count("replication 3") == 9, "every topic has 3 replicas (the brokers' default)")
        evs, _ = harness.generate(work, users=USERS, items=600, events=EVENTS)
        cmd = [harness.STREAMREC, "run", "--bootstrap", cluster.bootstrap, "--data-dir", work("data"),
               "--exit-when-idle-ms", "30000", "--set", f"kafka.group_id={GROUP}", *harness.FAST_GROUP]
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=open(work("run.log"), "w"))
        t.check(harness.wait_until(lambda: group_checks.assigned(work("run.log")), 60), "streamrec joined the group")
        watcher = group_checks.OutputWatcher(cluster.bootstrap, PARTITIONS)
        done, errors, delivered = threading.Event(), [], []
        lines = [json.dumps(e) for e in evs]
        producer = threading.Thread(target=produce, args=(cluster.bootstrap, lines, done, errors, delivered))
        producer.start()
        time.sleep(12)
        leader_of, _ = leaders(cluster.bootstrap, "events")
        victim = leader_of[0]
        led = {p for p, b in leader_of.items() if b == victim}
        role = "and the group's coordinator" if coordinator(cluster.bootstrap, GROUP) == victim else "not the coordinator"
        killed = time.monotonic()
        cluster.node_of(victim).kill()
        log(f"broker {victim} (leader of events partitions {sorted(led)}, {role}) SIGKILLed")
        time.sleep(DOWN_S)
        t.check(proc.poll() is None, "streamrec kept running while a broker was down")
        up_s = cluster.restart(victim)
        log(f"broker {victim} restarted, serving metadata after {up_s:.1f} s")
        t.check(not done.is_set(), "the stream was still flowing when the broker came back")
        producer.join()
        t.check(not errors, f"the test's producer delivered every event ({errors[:3]})")
        overall, _ = watcher.longest_gap(killed, time.monotonic())
        on_led, part = watcher.longest_gap(killed, time.monotonic(), led)
        marks = [killed] + [x for x in delivered if x > killed]
        upstream = max(b - a for a, b in zip(marks, marks[1:]))
        log(f"MEASURED leader loss: longest time without a list {overall:.1f} s overall, {on_led:.1f} s on the "
            f"partitions broker {victim} led (partition {part}); the shop's own producer had no event acknowledged "
            f"for {upstream:.1f} s of it; broker back up in {up_s:.1f} s")
        try:
            code = proc.wait(timeout=150)
        except subprocess.TimeoutExpired:
            code = "still running after 120 s"
        t.check(code == 0, f"streamrec exits cleanly when idle ({code})")
        st = harness.state(work("data"))
        t.check(st["applied_events"] == EVENTS, f"every event applied exactly once ({st['applied_events']} of {EVENTS})")
        group_checks.check_changelog(t, cluster.bootstrap, GROUP, PARTITIONS, evs)
        group_checks.check_list_order(t, cluster.bootstrap, {e["user_id"] for e in evs})
        back = harness.wait_until(lambda: all(victim in r for r in leaders(cluster.bootstrap, "events")[1].values()), 60)
        t.check(back, f"broker {victim} is back in every partition's ISR ({leaders(cluster.bootstrap, 'events')[1]})")
    finally:
        if watcher:
            watcher.stop()
        if proc and proc.poll() is None:
            proc.kill()
        cluster.stop()
        if t.failed:
            subprocess.run(f"grep -v ' debug ' {work.path}/run.log | tail -n 60", shell=True)
        work.cleanup()
    t.finish()


if __name__ == "__main__":
    main()
