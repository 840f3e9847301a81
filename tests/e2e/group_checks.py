"""What the group tests (test_rebalance.py, test_group_kafka.py) check about a
consumer group's work, read with kafka-python (an independent client): the
state changelog's chains, each user's newest state, list order, and which
partitions an instance holds according to its log."""

import collections
import json
import struct
import threading
import time

from kafka import KafkaConsumer, KafkaProducer, TopicPartition

import harness
from harness import log

MARKER_KEY = b"\x00streamrec.offsets"


def read_topic(bootstrap, topic):
    """All records of `topic` as {partition: [(key, value)]}, in offset order."""
    c = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    parts = [TopicPartition(topic, p) for p in c.partitions_for_topic(topic)]
    ends = c.end_offsets(parts)
    c.assign(parts)
    c.seek_to_beginning()
    out = collections.defaultdict(list)
    deadline = time.time() + 60
    while any(c.position(tp) < ends[tp] for tp in parts) and time.time() < deadline:
        for tp, records in c.poll(timeout_ms=500).items():
            out[tp.partition].extend((r.key, r.value) for r in records)
    c.close()
    return out


def record_counts(bootstrap, topic):
    """{partition: (records there now, offsets between its watermarks)}: fewer
    records than offsets once compaction removed some."""
    c = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    parts = [TopicPartition(topic, p) for p in c.partitions_for_topic(topic)]
    starts, ends = c.beginning_offsets(parts), c.end_offsets(parts)
    c.close()
    records = read_topic(bootstrap, topic)
    return {tp.partition: (len(records[tp.partition]), ends[tp] - starts[tp]) for tp in parts}


def assigned(path):
    """Partitions the instance logging to `path` was last assigned."""
    parts = set()
    for line in open(path):
        if "revoked events/" in line:
            parts.discard(int(line.rsplit("/", 1)[1]))
        elif "assigned events/" in line:
            parts.add(int(line.split("assigned events/")[1].split()[0]))
    return parts


def assignment_changes(path):
    """How many times the log at `path` says a partition was assigned or revoked."""
    return sum(1 for line in open(path) if "assigned events/" in line or "revoked events/" in line)


def check_changelog(t, bootstrap, group, partitions, events, changelog=None):
    """Every partition's batches form one chain from offset 0 to the end of
    `events` (each starts where the previous ended, whoever wrote it), and each
    user's newest record holds exactly their number of events. `changelog`:
    the records as written (an OutputWatcher's, when compaction removes them),
    else read now. Returns the set of (writer, next writer) moves seen."""
    ends = harness.end_offsets(bootstrap)
    changelog = changelog if changelog is not None else read_topic(bootstrap, f"{group}.state")
    broken, moves, last_record = [], set(), {}
    for p in range(partitions):
        markers = [json.loads(v) for k, v in changelog[p] if k == MARKER_KEY]
        for prev, cur in zip(markers, markers[1:]):
            if cur["from"] != prev["next_offset"]:
                broken.append((p, prev, cur))
            if cur["writer"] != prev["writer"]:
                moves.add((prev["writer"], cur["writer"]))
        end = ends.get(f"events/{p}", 0)
        if not markers or markers[0]["from"] not in (-1, 0) or markers[-1]["next_offset"] != end:
            broken.append((p, "ends", markers[:1], markers[-1:], end))
        for k, v in changelog[p]:
            if k != MARKER_KEY:
                last_record[k.decode()] = v
    t.check(not broken, f"every partition's batches form one chain from 0 to the end ({broken[:3]})")
    per_user = collections.Counter(e["user_id"] for e in events)
    wrong = [u for u, n in per_user.items()
             if u not in last_record or struct.unpack_from("<Q", last_record[u], 1)[0] != n]
    t.check(not wrong, f"each of {len(per_user)} users' newest state holds exactly their events ({wrong[:5]})")
    return moves


def check_list_order(t, bootstrap, users, killed=False):
    """Every one of `users` has lists; a list of newer events than every list
    before it (its `source` offset is higher) has a higher seq than all of them,
    so a reader keeping the highest seq never drops fresh lists; and the last
    record of each user has their highest seq. Without `killed` instances seq
    never goes back either. After a SIGKILL the events of its last batches are
    replayed by their next owner and give lists again, with seqs no higher than
    those already out: steps back then, counted. The embedded broker's
    compaction copies a key's latest record forward (marked by a header); a copy
    that lands just after a newer list repeats an older one: readers keeping the
    highest seq ignore it."""
    records = collections.defaultdict(list)
    for m in harness.consume_all(bootstrap, "recommendations"):
        copy = harness.COMPACTION_COPY_HEADER in (m.get("headers") or [])[::2]
        lst = json.loads(m["payload"])
        records[lst["user_id"]].append((lst["seq"], lst["source"]["offset"], copy))
    unordered, fresh_below, last_not_highest = set(), set(), []
    for user, lists in records.items():
        highest, newest_source = -1, -1
        for seq, source, copy in lists:
            if copy:
                continue
            if seq < highest:
                unordered.add(user)
            if source > newest_source and seq <= highest:
                fresh_below.add(user)
            highest, newest_source = max(highest, seq), max(newest_source, source)
        if lists[-1][0] != max(seq for seq, _, _ in lists):
            last_not_highest.append(user)
    t.check(len(records) == len(users), f"every one of {len(users)} users has lists ({len(records)})")
    if killed:
        log(f"{len(unordered)} users' lists stepped back in a replay after a SIGKILL")
    else:
        t.check(not unordered, f"no user's list seq ever goes back across instances ({len(unordered)} out of order)")
    t.check(not fresh_below, f"every list of newer events has a higher seq than all before it ({len(fresh_below)} "
                             f"users with one that does not: {sorted(fresh_below)[:3]})")
    t.check(not last_not_highest, f"every user's last record is their highest seq ({len(last_not_highest)} not)")


def produce_paced(bootstrap, lines, rate, done, bad_every=3000):
    """Sends the JSON `lines` keyed by user at `rate` a second, a malformed
    event every `bad_every`, then sets `done`."""
    p = KafkaProducer(bootstrap_servers=bootstrap, linger_ms=20, retries=10, max_in_flight_requests_per_connection=1)
    start = time.time()
    for k, line in enumerate(lines):
        if k % 500 == 0:
            time.sleep(max(0.0, start + k / rate - time.time()))
        p.send("events", key=json.loads(line)["user_id"].encode(), value=line.encode())
        if k % bad_every == 11:
            p.send("events", key=b"u-bad", value=b'{"user_id": 7}')
    p.flush()
    p.close()
    done.set()


class OutputWatcher:
    """Reads a topic as records arrive (a thread; `recommendations` from the end
    by default) and keeps each partition's arrival times, to measure how long
    output stopped, and with `keep` the records themselves, {partition:
    [(key, value)]}: what a compacting broker writes, before its cleaner runs."""

    def __init__(self, bootstrap, partitions, topic="recommendations", from_beginning=False, keep=False):
        self.arrivals = collections.defaultdict(list)
        self.records = collections.defaultdict(list)
        self._keep = keep
        self._stop = threading.Event()
        self._consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
        parts = [TopicPartition(topic, p) for p in range(partitions)]
        self._consumer.assign(parts)
        if from_beginning:
            self._consumer.seek_to_beginning()
        else:
            self._consumer.seek_to_end()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        while not self._stop.is_set():
            for tp, records in self._consumer.poll(timeout_ms=100).items():
                self.arrivals[tp.partition].extend([time.monotonic()] * len(records))
                if self._keep:
                    self.records[tp.partition].extend((r.key, r.value) for r in records)

    def stop(self):
        self._stop.set()
        self._thread.join()
        self._consumer.close()

    def longest_gap(self, start, end, partitions=None):
        """The longest time (s) without a list on any of `partitions` (default:
        all) between monotonic times `start` and `end`, and the partition."""
        worst = (0.0, None)
        for p, times in self.arrivals.items():
            if partitions is not None and p not in partitions:
                continue
            marks = [start] + [x for x in times if start <= x <= end] + [end]
            gap = max(b - a for a, b in zip(marks, marks[1:]))
            worst = max(worst, (gap, p))
        return worst
