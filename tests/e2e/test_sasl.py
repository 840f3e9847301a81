"""`streamrec run` on SASL_PLAINTEXT listeners of real Apache Kafka, its
credentials passed through kafka.properties (librdkafka settings).

On the pinned Kafka (4.1.1), a listener with SCRAM-SHA-512 and PLAIN:
- PLAIN, the right password: every user who sent an event has a list;
- PLAIN or SCRAM, a wrong password: exit 2 within seconds, the log naming the
  refused authentication (no hanging, no restart loop);
- SCRAM, the right password: Debian 12's librdkafka (2.0.2) sends a SCRAM proof
  that Kafka 4 rejects (confluentinc/librdkafka#4895, fixed in 2.6.1), so
  streamrec exits 2 and says so; with librdkafka >= 2.6.1 it must work.
On Kafka 3.9.1, which that librdkafka authenticates with, SCRAM-SHA-512 with
the right password: every user has a list."""

import json
import subprocess
import time

import harness
from harness import log
from real_kafka import RealKafka

USERS = 40
PASSWORD = "s3cret-pw"
# The last Kafka line whose SCRAM Debian 12's librdkafka can pass.
SCRAM_KAFKA = "3.9.1"


def sasl_run(kafka, work, name, mechanism, password):
    """`streamrec run` on the SASL listener until idle; (exit code, seconds, stderr)."""
    creds = (f"kafka.properties={{security.protocol: SASL_PLAINTEXT, sasl.mechanism: {mechanism}, "
             f"sasl.username: streamrec, sasl.password: '{password}'}}")
    started = time.monotonic()
    res = subprocess.run([harness.STREAMREC, "run", "--bootstrap", kafka.sasl_bootstrap, "--data-dir", work(name),
                          "--exit-when-idle-ms", "3000", *harness.FAST_GROUP, "--set", creds],
                         capture_output=True, text=True, timeout=120)
    took = time.monotonic() - started
    log(f"{name}: {mechanism} exited {res.returncode} after {took:.1f} s")
    return res.returncode, took, res.stderr


def users_with_lists(bootstrap):
    latest = {}
    for m in harness.consume_all(bootstrap, "recommendations"):
        latest[m["key"]] = json.loads(m["payload"])
    return {u for u, lst in latest.items() if lst["items"]}


def feed(kafka, work, seed):
    """Topics over the PLAINTEXT listener, then events of USERS users; their ids."""
    kafka.create_streamrec_topics(harness.STREAMREC, 2)
    events, _ = harness.generate(work, USERS, 100, 400, seed=seed)
    harness.produce(kafka.bootstrap, harness.as_messages(events))
    return {e["user_id"] for e in events}


def check_refused(t, kafka, work, name, mechanism, password, why):
    code, took, err = sasl_run(kafka, work, name, mechanism, password)
    t.check(code == 2 and took < 20, f"{why}: exit 2 within 20 s ({code}, {took:.1f} s)")
    t.check("the cluster refused the connection" in err and "Authentication failed" in err,
            f"{why}: the error names the refused authentication ({err.strip().splitlines()[-1:]})")
    return err


def on_pinned_kafka(t, work):
    with RealKafka(scram_users={"streamrec": PASSWORD}, plain_users={"streamrec": PASSWORD}) as kafka:
        users = feed(kafka, work, seed=3)
        check_refused(t, kafka, work, "plain-wrong", "PLAIN", "wrong", "PLAIN, wrong password")
        check_refused(t, kafka, work, "scram-wrong", "SCRAM-SHA-512", "wrong", "SCRAM, wrong password")
        code, _, err = sasl_run(kafka, work, "plain", "PLAIN", PASSWORD)
        t.check(code == 0, f"PLAIN, the right password: a clean run ({code})")
        with_lists = users_with_lists(kafka.bootstrap)
        t.check(users <= with_lists, f"PLAIN: all {len(users)} users have a list ({len(users - with_lists)} without)")
        code, _, err = sasl_run(kafka, work, "scram", "SCRAM-SHA-512", PASSWORD)
        if "librdkafka#4895" in err:
            t.check(code == 2, f"SCRAM on Kafka 4 with this librdkafka: exit 2, the known incompatibility named ({code})")
        else:
            t.check(code == 0, f"SCRAM on Kafka 4, the right password: a clean run ({code})")


def on_scram_kafka(t, work):
    with RealKafka(scram_users={"streamrec": PASSWORD}, version=SCRAM_KAFKA) as kafka:
        log(f"Kafka {SCRAM_KAFKA} up in {kafka.start_seconds:.1f} s")
        users = feed(kafka, work, seed=5)
        code, _, _ = sasl_run(kafka, work, "scram-39", "SCRAM-SHA-512", PASSWORD)
        t.check(code == 0, f"SCRAM-SHA-512 on Kafka {SCRAM_KAFKA}, the right password: a clean run ({code})")
        with_lists = users_with_lists(kafka.bootstrap)
        t.check(users <= with_lists,
                f"SCRAM on Kafka {SCRAM_KAFKA}: all {len(users)} users have a list ({len(users - with_lists)} without)")
        check_refused(t, kafka, work, "scram-39-wrong", "SCRAM-SHA-512", "wrong", f"SCRAM on {SCRAM_KAFKA}, wrong password")


def main():
    t = harness.Checks()
    work = harness.WorkDir("sasl")
    try:
        on_pinned_kafka(t, work)
        on_scram_kafka(t, work)
    finally:
        work.cleanup()
        t.finish()


if __name__ == "__main__":
    main()
