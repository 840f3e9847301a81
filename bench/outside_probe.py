#!/usr/bin/python3
"""Event-to-list latency measured from outside, as a shop would (docs/BENCHMARKS.md,
"Latency from outside").

`streamrec run` runs with its shipped defaults against a broker; two independent
client processes (confluent-kafka, neither of them streamrec's code) do the rest:
a producer sends click events at a paced rate and notes each event's produce time
and, from its delivery report, its partition and offset; a consumer reads
`recommendations` from its end and notes each list's arrival time and its
`source` partition and offset. An event is shown by the first list of its user
whose source is at or past it (a list shows every earlier event of its user:
owed lists coalesce); its latency is that list's arrival less the event's
produce time, on the machine's monotonic clock (one clock for every process).

    bench/outside_probe.py build/streamrec [--broker embedded|kafka] [--rate 10000] [--seconds 30]
        [--users 100000] [--items 100000] [--shape uniform|sessions] [--rates R1,R2,...]
        [--burst [--after 90]] [--set KEY=VALUE ...] [--json]

Phases: a warm-up at the rate (not counted: the model meets its items), then the
measured phase; `--rates` measures one phase per rate instead (the highest rate
with p99 under 100 ms is reported); `--burst` adds 10 s at ten times the rate and
then `--after` seconds (90) at the rate, and reports how long after the burst p99 took to come back
under 100 ms (per second of produce time). The probe's own client settings are
printed: librdkafka's defaults, plus murmur2 partitioning and an idempotent
producer, and on the embedded broker a consumer fetch.wait.max.ms of 5 ms (the
embedded broker holds an empty fetch for the whole wait; a Kafka broker answers
as soon as a record arrives). The embedded broker runs without its compaction
(`streamrec broker --no-compaction`: it keeps the latest lists of ~1,400 users
a partition, fewer than measured here).

Beside each phase's latencies: the pipeline's own stage timings (its /metrics)
and the CPU each event cost streamrec's threads (from /proc: the pipeline's
thread, the scoring thread, the commit writer, librdkafka's and RocksDB's
threads), with the cores streamrec, the broker and the whole machine were busy.
"""

import argparse
import bisect
import json
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "e2e"))
from bench_broker import BenchBroker  # noqa: E402

SOURCE = re.compile(rb'"source":\{"partition":(-?\d+),"offset":(-?\d+)\}')
P99_TARGET_MS = 100.0


# ---------------------------------------------------------------- the producer process

class Traffic:
    """Users and items of each event: users uniform (or in sessions), items Zipf."""

    def __init__(self, users, items, shape, rate, seed):
        self.rng = random.Random(seed)
        self.users, self.items, self.shape = users, items, shape
        weights = [1.0 / (k + 1) for k in range(items)]
        total, acc, self.cdf = sum(weights), 0.0, []
        for w in weights:
            acc += w / total
            self.cdf.append(acc)
        # sessions: about one event a second per active session
        self.sessions = [self._new_session() for _ in range(max(1, rate))] if shape == "sessions" else []

    def _item(self):
        return min(bisect.bisect_left(self.cdf, self.rng.random()), self.items - 1)

    def _new_session(self):
        return {"user": self.rng.randrange(self.users), "left": 1 + int(self.rng.expovariate(1 / 7)),
                "item": self._item()}

    def next(self):
        if self.shape == "uniform":
            return self.rng.randrange(self.users), self._item()
        k = self.rng.randrange(len(self.sessions))
        s = self.sessions[k]
        # the next item near the last (a neighbouring block of the catalogue) or a popular one
        item = (s["item"] + self.rng.randrange(-50, 51)) % self.items if self.rng.random() < 0.7 else self._item()
        s["item"], s["left"] = item, s["left"] - 1
        user = s["user"]
        if s["left"] <= 0:
            self.sessions[k] = self._new_session()
        return user, item


def producer_main(args):
    from confluent_kafka import Producer

    phases = json.loads(args.phases)
    traffic = Traffic(args.users, args.items, args.shape, phases[-1][1], seed=args.seed)
    out = open(args.out, "w")
    pending = {}  # message number -> (produce time ns, user, phase)

    errors = {}

    def delivered(err, msg, k):
        sent = pending.pop(k, None)
        if err is not None or sent is None:
            errors[str(err)] = errors.get(str(err), 0) + 1
            return
        out.write(f"{sent[0]} {sent[1]} {msg.partition()} {msg.offset()} {sent[2]}\n")

    p = Producer({"bootstrap.servers": args.bootstrap, "partitioner": "murmur2_random",
                  "enable.idempotence": True})
    seq = 0
    for phase, (name, rate, seconds) in enumerate(phases):
        start = time.monotonic()
        sent = 0
        while True:
            elapsed = time.monotonic() - start
            if elapsed >= seconds:
                break
            due = int(rate * elapsed) - sent
            for _ in range(min(due, 2000)):
                user, item = traffic.next()
                key = f"u{user}"
                now_ns = time.monotonic_ns()
                value = (f'{{"user_id":"{key}","item_id":"i{item}","type":"click",'
                         f'"ts":{time.time_ns() // 1_000_000}}}')
                seq += 1
                pending[seq] = (now_ns, key, phase)
                while True:
                    try:
                        p.produce("events", value=value, key=key,
                                  on_delivery=lambda err, msg, k=seq: delivered(err, msg, k))
                        break
                    except BufferError:
                        p.poll(0.01)
                sent += 1
            p.poll(0)
            if due <= 0:
                time.sleep(0.0005)
        print(json.dumps({"phase": name, "sent": sent, "seconds": time.monotonic() - start}), flush=True)
    left = p.flush(60)
    out.close()
    if errors or left:
        sys.exit(f"outside_probe: {sum(errors.values())} events not delivered ({errors}), {left} still queued")


# ---------------------------------------------------------------- the consumer process

def consumer_main(args):
    from confluent_kafka import Consumer, TopicPartition, OFFSET_END

    conf = {"bootstrap.servers": args.bootstrap, "group.id": f"outside-probe-{os.getpid()}",
            "enable.auto.commit": False}
    conf.update(json.loads(args.consumer_conf))
    c = Consumer(conf)
    parts = c.list_topics("recommendations", timeout=10).topics["recommendations"].partitions
    c.assign([TopicPartition("recommendations", p, OFFSET_END) for p in parts])
    # Positions are resolved by the first fetches: lists published from now on are read.
    c.consume(num_messages=1, timeout=1.0)
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    print("ready", flush=True)
    with open(args.out, "w") as out:
        while not stop:
            # What has arrived, at once; else a wait for the next one (consume()
            # with a timeout waits for the whole count: arrivals would be late).
            batch = c.consume(num_messages=1000, timeout=0)
            if not batch:
                first = c.poll(0.01)
                batch = [first] if first is not None else []
            now_ns = time.monotonic_ns()
            for m in batch:
                if m.error() or not m.value():
                    continue
                value = m.value()
                hit = SOURCE.search(value, max(0, len(value) - 80))
                if hit and int(hit.group(2)) >= 0:
                    out.write(f"{now_ns} {m.key().decode()} {hit.group(1).decode()} {hit.group(2).decode()}\n")
    c.close()


# ---------------------------------------------------------------- the parent

STAGE_BUCKET = re.compile(r'streamrec_list_stage_milliseconds_bucket\{stage="(\w+)",le="([^"]+)"\} (\d+)')
STAGES = ["fetch", "learn", "queue", "score", "publish", "total"]


def scrape_stages(metrics_url):
    """{stage: [(upper bound ms, cumulative count)]} from the pipeline's /metrics."""
    import urllib.request

    text = urllib.request.urlopen(metrics_url, timeout=10).read().decode()
    stages = {}
    for stage, le, count in STAGE_BUCKET.findall(text):
        stages.setdefault(stage, []).append((float(le), int(count)))
    return stages


# Thread names (as /proc shows them, 15 characters at most) -> what they do.
THREAD_ROLES = [("streamrec-score", "scoring"), ("streamrec-commi", "commit"), ("rdk:", "librdkafka"),
                ("rocksdb:", "rocksdb")]


def cpu_sample(run_pid, broker_pid):
    """CPU seconds so far: streamrec's threads by role (the main thread is the pipeline's),
    its whole process, the broker's process, and the machine's busy time."""
    tick = os.sysconf("SC_CLK_TCK")

    def stat_cpu(path):
        text = open(path).read()
        fields = text[text.rindex(")") + 2:].split()
        return text[text.index("(") + 1:text.rindex(")")], (int(fields[11]) + int(fields[12])) / tick

    sample = {}
    for tid in os.listdir(f"/proc/{run_pid}/task"):
        try:
            comm, cpu = stat_cpu(f"/proc/{run_pid}/task/{tid}/stat")
        except (OSError, ValueError):
            continue  # the thread ended meanwhile
        role = "pipeline" if int(tid) == run_pid else next(
            (r for prefix, r in THREAD_ROLES if comm.startswith(prefix)), "other")
        sample[role] = sample.get(role, 0.0) + cpu
    sample["streamrec"] = stat_cpu(f"/proc/{run_pid}/stat")[1]
    if broker_pid:
        sample["broker"] = stat_cpu(f"/proc/{broker_pid}/stat")[1]
    with open("/proc/stat") as f:
        ticks = [int(x) for x in f.readline().split()[1:]]
    # user, nice, system, irq, softirq: not idle, iowait, or steal (the hypervisor's)
    sample["machine_busy"] = (sum(ticks[:3]) + ticks[5] + ticks[6]) / tick
    sample["at"] = time.monotonic()
    return sample


def cpu_figures(before, after, events):
    """CPU per event (us) by streamrec thread role, and cores busy over the phase."""
    seconds = after["at"] - before["at"]
    per_event = {role: round((after[role] - before.get(role, 0.0)) * 1e6 / max(events, 1), 1)
                 for role in ["pipeline", "scoring", "commit", "librdkafka", "rocksdb", "other", "streamrec"]
                 if role in after}
    cores = {what: round((after[what] - before[what]) / seconds, 2)
             for what in ["streamrec", "broker", "machine_busy"] if what in after and what in before}
    return {"us_per_event": per_event, "cores": cores}


def stage_quantile(before, after, stage, q):
    """The bucket bound holding quantile q of `stage` between two scrapes (None: no observation)."""
    b = dict(before.get(stage, []))
    buckets = [(le, count - b.get(le, 0)) for le, count in after.get(stage, [])]
    total = buckets[-1][1] if buckets else 0
    if total == 0:
        return None
    for le, cumulative in buckets:
        if cumulative > q * (total - 1):
            return le
    return float("inf")


def percentile(sorted_values, q):
    if not sorted_values:
        return float("nan")
    return sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))]


def match(events_path, lists_path):
    """[(phase, produce time ns, latency ms or None)] for every delivered event."""
    lists = {}
    with open(lists_path) as f:
        for line in f:
            t, user, partition, offset = line.split()
            lists.setdefault(user, []).append((int(t), int(partition), int(offset)))
    events = {}
    with open(events_path) as f:
        for line in f:
            t, user, partition, offset, phase = line.split()
            events.setdefault(user, []).append((int(offset), int(partition), int(t), int(phase)))
    out = []
    for user, evs in events.items():
        evs.sort()
        ls = lists.get(user, [])
        for offset, partition, sent_ns, phase in evs:
            shown = next((t for t, p, o in ls if p == partition and o >= offset), None)
            out.append((phase, sent_ns, None if shown is None else (shown - sent_ns) / 1e6))
    return out


def summarize(latencies):
    shown = sorted(x for x in latencies if x is not None)
    return {"events": len(latencies), "shown": len(shown), "not_shown": len(latencies) - len(shown),
            "p50_ms": percentile(shown, 0.50), "p99_ms": percentile(shown, 0.99),
            "p999_ms": percentile(shown, 0.999), "max_ms": shown[-1] if shown else float("nan")}


def after_burst_p99s(results, burst_phase, after_phase):
    """Each second's p99 (ms) after the burst's end, by the events' produce time."""
    burst_end = max(t for ph, t, _ in results if ph == burst_phase)
    seconds = {}
    for ph, t, lat in results:
        if ph == after_phase:
            seconds.setdefault(int((t - burst_end) / 1e9), []).append(lat if lat is not None else float("inf"))
    return [percentile(sorted(seconds[s]), 0.99) for s in sorted(seconds)]


def recovery_seconds(p99s):
    """Seconds from the burst's end until every later second's p99 is under the target."""
    if not p99s:
        return None
    last_bad = max((s for s, p in enumerate(p99s) if p >= P99_TARGET_MS), default=-1)
    return None if last_bad == len(p99s) - 1 else last_bad + 1


def first_under_seconds(p99s):
    """Seconds from the burst's end to the first second whose p99 is under the target."""
    return next((s for s, p in enumerate(p99s) if p < P99_TARGET_MS), None)


def wait_for(path, text, timeout):
    end = time.time() + timeout
    while time.time() < end:
        if os.path.exists(path) and text in open(path).read():
            return True
        time.sleep(0.1)
    return False


def plan(args):
    if args.rates:
        rates = [int(r) for r in args.rates.split(",")]
        return [("warm-up", rates[0], args.warmup)] + [(f"rate {r}", r, args.seconds) for r in rates]
    phases = [("warm-up", args.rate, args.warmup), (f"rate {args.rate}", args.rate, args.seconds)]
    if args.burst:
        phases += [(f"burst {10 * args.rate}", 10 * args.rate, 10), (f"after the burst", args.rate, args.after)]
    return phases


def run_probe(args, work):
    me = os.path.abspath(__file__)
    broker = BenchBroker(args.broker, args.streamrec, args.partitions, os.path.join(work, "broker.log"))
    procs = []
    try:
        sets = [x for kv in args.overrides for x in ("--set", kv)]
        run_log = os.path.join(work, "run.log")
        run = subprocess.Popen([args.streamrec, "run", "--bootstrap", broker.bootstrap, "--data-dir",
                                os.path.join(work, "data"), "--set", "http.listen=127.0.0.1:0", *sets],
                               stdout=subprocess.DEVNULL, stderr=open(run_log, "w"))
        procs.append(run)
        if not wait_for(run_log, "assigned events/", 60):
            sys.exit(f"outside_probe: streamrec run did not join its group:\n{open(run_log).read()[-3000:]}")
        consumer_conf = {"fetch.wait.max.ms": 5} if args.broker == "embedded" else {}
        lists_path, events_path = os.path.join(work, "lists.txt"), os.path.join(work, "events.txt")
        consumer = subprocess.Popen([sys.executable, me, "--role", "consumer", "--bootstrap", broker.bootstrap,
                                     "--out", lists_path, "--consumer-conf", json.dumps(consumer_conf)],
                                    stdout=subprocess.PIPE, text=True)
        procs.append(consumer)
        if consumer.stdout.readline().strip() != "ready":
            sys.exit("outside_probe: the consumer did not start")
        port = re.search(r"status endpoint at http://[\d.]+:(\d+)/", open(run_log).read())
        metrics_url = f"http://127.0.0.1:{port.group(1)}/metrics" if port else None
        phases = plan(args)
        producer = subprocess.Popen([sys.executable, me, "--role", "producer", "--bootstrap", broker.bootstrap,
                                     "--out", events_path, "--phases", json.dumps(phases), "--users", str(args.users),
                                     "--items", str(args.items), "--shape", args.shape],
                                    stdout=subprocess.PIPE, stderr=open(os.path.join(work, "producer.log"), "w"),
                                    text=True)
        procs.append(producer)
        # The pipeline's own breakdown at each phase's end (its lists lag its events by ~ms).
        scrapes = [scrape_stages(metrics_url)] if metrics_url else []
        broker_pid = broker.proc.pid if broker.proc else broker.kafka.proc.pid if broker.kafka else None
        cpu = [cpu_sample(run.pid, broker_pid)]
        sent = []
        for line in producer.stdout:
            if line.startswith("{"):
                sent.append(json.loads(line))
                cpu.append(cpu_sample(run.pid, broker_pid))
                if metrics_url:
                    scrapes.append(scrape_stages(metrics_url))
        if producer.wait(timeout=300) != 0:
            sys.exit(f"outside_probe: the producer failed:\n{open(os.path.join(work, 'producer.log')).read()[-3000:]}")
        time.sleep(args.drain)  # the last events' lists
        consumer.send_signal(signal.SIGTERM)
        consumer.wait(timeout=30)
        if run.poll() is not None:
            sys.exit(f"outside_probe: streamrec run exited {run.returncode}:\n{open(run_log).read()[-3000:]}")
        if broker.proc and broker.proc.poll() is not None:
            sys.exit(f"outside_probe: the broker exited {broker.proc.returncode}:\n"
                     f"{open(os.path.join(work, 'broker.log')).read()[-3000:]}")
        return phases, sent, match(events_path, lists_path), consumer_conf, scrapes, cpu
    finally:
        for p in reversed(procs):
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    p.kill()
        broker.stop()


def report(args, phases, sent, results, consumer_conf, scrapes, cpu):
    figures = {"broker": args.broker, "shape": args.shape, "users": args.users, "items": args.items,
               "overrides": args.overrides, "probe_consumer": consumer_conf, "phases": []}
    for k, (name, rate, seconds) in enumerate(phases):
        s = summarize([lat for ph, _, lat in results if ph == k])
        s.update({"phase": name, "offered_per_s": rate, "sent_per_s": sent[k]["sent"] / sent[k]["seconds"]})
        if len(scrapes) > k + 1:
            s["inside_ms"] = {stage: {"p50": stage_quantile(scrapes[k], scrapes[k + 1], stage, 0.5),
                                      "p99": stage_quantile(scrapes[k], scrapes[k + 1], stage, 0.99)}
                              for stage in STAGES}
        if len(cpu) > k + 1:
            s["cpu"] = cpu_figures(cpu[k], cpu[k + 1], sent[k]["sent"])
        figures["phases"].append(s)
    measured = [p for p in figures["phases"] if p["phase"].startswith("rate")]
    ok = [p["offered_per_s"] for p in measured if p["p99_ms"] < P99_TARGET_MS and p["not_shown"] == 0]
    figures["highest_rate_p99_under_100ms"] = max(ok) if ok else None
    if args.burst:
        p99s = after_burst_p99s(results, len(phases) - 2, len(phases) - 1)
        figures["recovery_s_after_burst"] = recovery_seconds(p99s)
        figures["first_under_s_after_burst"] = first_under_seconds(p99s)
        first = figures["first_under_s_after_burst"]
        later = p99s[first:] if first is not None else []
        figures["share_of_later_seconds_under"] = (
            round(sum(p < P99_TARGET_MS for p in later) / len(later), 3) if later else None)
    if args.json:
        print(json.dumps(figures))
        return figures
    print(f"outside probe: {args.broker} broker, {args.shape} traffic, {args.users:,} users, {args.items:,} items "
          f"(Zipf); streamrec run defaults" + (f", overrides: {' '.join(args.overrides)}" if args.overrides else ""))
    print(f"probe clients: confluent-kafka, librdkafka defaults + murmur2_random, idempotent producer"
          + (f"; consumer {consumer_conf}" if consumer_conf else ""))
    for p in figures["phases"]:
        print(f"  {p['phase']:22} sent {p['sent_per_s']:8,.0f}/s  events {p['events']:8,}  not shown {p['not_shown']:5,}"
              f"  p50 {p['p50_ms']:7.1f} ms  p99 {p['p99_ms']:7.1f} ms  p999 {p['p999_ms']:7.1f} ms"
              f"  max {p['max_ms']:7.1f} ms")
        if "inside_ms" in p:
            print("      inside streamrec (bucket bounds, ms), p50/p99: " + ", ".join(
                f"{stage} {fmt_bound(q['p50'])}/{fmt_bound(q['p99'])}" for stage, q in p["inside_ms"].items()))
        if "cpu" in p:
            print("      CPU per event (us): " + ", ".join(f"{r} {v:g}" for r, v in p["cpu"]["us_per_event"].items())
                  + "; cores: " + ", ".join(f"{w} {v:g}" for w, v in p["cpu"]["cores"].items()))
    if args.rates:
        print(f"highest rate with p99 < {P99_TARGET_MS:.0f} ms: {figures['highest_rate_p99_under_100ms']}")
    if args.burst:
        r, first = figures["recovery_s_after_burst"], figures["first_under_s_after_burst"]
        print(f"after the burst, p99 back under {P99_TARGET_MS:.0f} ms for good: "
              + (f"{r} s" if r is not None else "not within the phase")
              + "; first second under it: " + (f"{first} s" if first is not None else "none")
              + (f" ({figures['share_of_later_seconds_under']:.0%} of the later seconds under it)"
                 if first is not None else ""))
    return figures


def fmt_bound(ms):
    return "-" if ms is None else ("inf" if ms == float("inf") else f"{ms:g}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("streamrec", nargs="?")
    ap.add_argument("--role", choices=["parent", "producer", "consumer"], default="parent", help=argparse.SUPPRESS)
    ap.add_argument("--bootstrap", help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    ap.add_argument("--phases", help=argparse.SUPPRESS)
    ap.add_argument("--consumer-conf", default="{}", help=argparse.SUPPRESS)
    ap.add_argument("--seed", type=int, default=7, help=argparse.SUPPRESS)
    ap.add_argument("--broker", choices=["embedded", "kafka"], default="embedded")
    ap.add_argument("--partitions", type=int, default=4)
    ap.add_argument("--rate", type=int, default=10_000, help="events/s of the measured phase")
    ap.add_argument("--rates", help="comma-separated rates, one measured phase each")
    ap.add_argument("--seconds", type=float, default=30, help="length of each measured phase")
    ap.add_argument("--warmup", type=float, default=20, help="seconds at the first rate, not counted")
    ap.add_argument("--drain", type=float, default=5, help="seconds to wait for the last lists")
    ap.add_argument("--burst", action="store_true", help="then 10 s at 10x the rate, and --after s at the rate")
    ap.add_argument("--after", type=float, default=90, help="seconds at the rate after the burst")
    ap.add_argument("--users", type=int, default=100_000)
    ap.add_argument("--items", type=int, default=100_000)
    ap.add_argument("--shape", choices=["uniform", "sessions"], default="uniform")
    ap.add_argument("--set", action="append", default=[], dest="overrides", metavar="KEY=VALUE",
                    help="a `streamrec run` override (printed beside the figures)")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--keep", action="store_true", help="keep the work directory (logs, raw timings)")
    args = ap.parse_args()
    if args.role == "producer":
        return producer_main(args)
    if args.role == "consumer":
        return consumer_main(args)
    if not args.streamrec:
        ap.error("the streamrec binary is required")
    try:
        import confluent_kafka  # noqa: F401  (the clients are child processes of this interpreter)
    except ImportError:
        sys.exit(f"outside_probe: {sys.executable} has no confluent_kafka; run it with Debian's "
                 "/usr/bin/python3 (package python3-confluent-kafka, installed by scripts/install-deps.sh)")
    work = tempfile.mkdtemp(prefix="streamrec-probe-")
    try:
        phases, sent, results, consumer_conf, scrapes, cpu = run_probe(args, work)
        figures = report(args, phases, sent, results, consumer_conf, scrapes, cpu)
    finally:
        if not args.keep:
            subprocess.run(["rm", "-rf", work])
        else:
            print(f"work directory kept: {work}")
    measured = [p for p in figures["phases"] if not p["phase"].startswith("warm")]
    if not all(p["shown"] > 0 for p in measured):
        sys.exit("outside_probe: a measured phase saw no list for its events")
    if not all(p.get("inside_ms", {}).get("total", {}).get("p50") for p in measured):
        sys.exit("outside_probe: the pipeline's /metrics had no list stage timings for a measured phase")
    if not all(p.get("cpu", {}).get("us_per_event", {}).get("pipeline") for p in measured):
        sys.exit("outside_probe: no CPU time of the pipeline's thread was measured for a measured phase")


if __name__ == "__main__":
    main()
