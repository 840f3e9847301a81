"""The command line as a user meets it: help, errors, defaults, the embedded broker."""

import json
import re
import subprocess

import harness

B = harness.STREAMREC


def sh(*args, timeout=60):
    return subprocess.run([B, *args], capture_output=True, text=True, timeout=timeout)


def main():
    t = harness.Checks()
    work = harness.WorkDir("cli")
    try:
        top = sh("--help")
        t.check(top.returncode == 0 and all(c in top.stdout for c in
                                            ["run", "broker", "produce", "generate", "state", "eval", "bench"]),
                "--help lists every subcommand")
        for sub, phrase in [("run", "embedded broker"), ("broker", "first line"), ("produce", "ts,user,item,type"),
                            ("generate", "segment"), ("state", "checksum"), ("bench", "ceiling")]:
            r = sh(sub, "--help")
            t.check(r.returncode == 0 and phrase in r.stdout, f"{sub} --help explains ({phrase!r})")

        r = sh("run", "--set", "learner.dimm=16", "--print-config")
        t.check(r.returncode == 2 and "unknown configuration key 'learner.dimm'" in r.stderr,
                "a mistyped setting is an error that names it")
        r = sh("run", "--set", "learner.dim=1000", "--print-config")
        t.check(r.returncode == 2 and "learner.dim must be in 4..512" in r.stderr, "out-of-range values say the range")
        r = sh("run", "--set", "learner.dim=48", "--print-config")
        t.check(r.returncode == 0 and "dim: 48" in r.stdout and "top_n: 20" in r.stdout,
                "--print-config shows overrides and defaults")
        cfg = work("c.yaml")
        with open(cfg, "w") as f:
            f.write("emitter:\n  top_n: 7\n")
        r = sh("run", "--config", cfg, "--print-config")
        t.check(r.returncode == 0 and "top_n: 7" in r.stdout, "--config file is read")

        r = sh("state", "--data-dir", work("missing"))
        t.check(r.returncode == 1 and "cannot open" in r.stderr, "state on a missing store is a clear error")
        r = sh("produce", "--bootstrap", "127.0.0.1:9", "--file", work("nope.csv"))
        t.check(r.returncode != 0 and "nope.csv" in r.stderr, "produce names a missing file")
        r = sh("generate", "--events", "5")
        t.check(r.returncode == 2 and "--out" in r.stderr, "generate needs a destination")

        # No broker configured: run refuses, naming both choices (no silent in-memory broker).
        r = sh("run", "--data-dir", work("none"), "--exit-when-idle-ms", "300", timeout=60)
        t.check(r.returncode == 2 and "--bootstrap embedded" in r.stderr and "HOST:PORT" in r.stderr,
                f"run without a broker refuses and says how to name one ({r.returncode}, {r.stderr.strip()[:80]!r})")
        # --bootstrap embedded: run starts the embedded broker and says where.
        r = sh("--log-level", "debug", "run", "--bootstrap", "embedded", "--data-dir", work("d"),
               "--exit-when-idle-ms", "300", "--set", "pipeline.status_interval_s=0", "--set", "http.listen=127.0.0.1:0",
               timeout=120)
        first = r.stdout.splitlines()[0] if r.stdout else ""
        t.check(r.returncode == 0 and first.startswith("embedded broker at 127.0.0.1:"),
                f"run --bootstrap embedded starts the embedded broker ({first!r})")
        t.check(re.search(r" debug \[\w+\] ", r.stderr) is not None, "--log-level debug applies to run (debug lines logged)")
        st = harness.state(work("d"))
        t.check(st["applied_events"] == 0 and st["users"] == 0, "an empty run leaves an empty, readable store")

        # generate writes a catalog; produce --catalog loads it, keyed by item id (read back with kcat).
        r = sh("generate", "--events", "10", "--items", "50", "--out", work("g.jsonl"), "--catalog", work("cat.jsonl"))
        with open(work("cat.jsonl")) as f:
            entries = [json.loads(line) for line in f]
        t.check(r.returncode == 0 and len(entries) == 50 and all("category" in e and "price" in e for e in entries),
                "generate --catalog writes one entry per item")
        with open(work("cat.jsonl"), "a") as f:
            f.write('{"item_id":"bad","price":"free"}\n')
        broker = harness.Broker(partitions=2)
        try:
            r = sh("produce", "--bootstrap", broker.bootstrap, "--catalog", work("cat.jsonl"))
            got = harness.consume_all(broker.bootstrap, "catalog")
            keys = {m["key"] for m in got}
            t.check(r.returncode == 0 and "1 invalid" in r.stderr and len(got) == 51 and
                    {e["item_id"] for e in entries} <= keys,
                    f"produce --catalog sends every line to the catalog topic, keyed by item id ({r.stderr.strip()})")
            # Another consumer group on the embedded broker: its state changelog must
            # exist with enough partitions (before: the mock auto-created it with 4 of
            # its own, and run retried "Unknown partition" forever).
            r = sh("run", "--bootstrap", broker.bootstrap, "--data-dir", work("other"), "--exit-when-idle-ms", "500",
                   "--set", "kafka.group_id=other", *harness.FAST_GROUP)
            t.check(r.returncode != 0 and "other.state does not exist" in r.stderr and "--group other" in r.stderr,
                    f"run in a group whose state topic is missing fails, saying how to create it ({r.returncode})")
        finally:
            broker.stop()
        broker = harness.Broker(partitions=6, extra=["--group", "other"])
        try:
            r = sh("run", "--bootstrap", broker.bootstrap, "--data-dir", work("other"), "--exit-when-idle-ms", "500",
                   "--set", "kafka.group_id=other", *harness.FAST_GROUP)
            t.check(r.returncode == 0, f"streamrec broker --group other creates other.state: run works ({r.returncode})")
        finally:
            broker.stop()
        r = sh("produce", "--bootstrap", "127.0.0.1:9", "--file", work("g.jsonl"), "--catalog", work("cat.jsonl"))
        t.check(r.returncode != 0 and "excludes" in r.stderr, "produce takes --file or --catalog, not both")

        # The benchmark, small: every figure of the documented JSON shape is there and measured.
        r = sh("bench", "--events", "5000", "--users", "1000", "--items", "500", "--latency-seconds", "1",
               "--no-max-rate", "--json", timeout=180)
        fig = json.loads(r.stdout) if r.returncode == 0 else {}
        keys = ["ingest_ceiling_eps", "pipeline_eps", "pipeline_ratio", "scoring_ceiling_lps", "topn_lps",
                "topn_ratio", "latency_ms", "max_rate_p99_under_100ms", "peak_rss_mb", "bytes_per_user",
                "bytes_per_item"]
        t.check(all(k in fig for k in keys) and all(fig[k] > 0 for k in keys if k not in
                                                     ("latency_ms", "max_rate_p99_under_100ms")) and
                fig["latency_ms"]["p50"] > 0,
                f"bench --json reports every figure: {r.stdout.strip()[:300]}")
        cpu = fig.get("cpu_us_by_thread", {})
        t.check(fig.get("cpu_us_per_event", 0) > 0 and cpu.get("pipeline", 0) > 0 and
                abs(sum(cpu.values()) - fig["cpu_us_per_event"]) < 0.05 * fig["cpu_us_per_event"] and
                0 < fig.get("machine_busy", 0) <= 1,
                f"bench --json says where the pipeline's CPU went: {cpu}")
        r = sh("bench", "--events", "10")
        t.check(r.returncode == 2 and "--events" in r.stderr, "bench rejects a run too small to measure")
    finally:
        work.cleanup()
    t.finish()


if __name__ == "__main__":
    main()
