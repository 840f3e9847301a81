"""The broker a Python benchmark runs against: `streamrec broker` (the embedded
one, without its compaction) or a real single-node Kafka (tests/e2e/real_kafka.py)
with the standard topics. Shared by item_flood.py, outside_probe.py and scale_out.py."""
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "e2e"))


class BenchBroker:
    def __init__(self, kind, streamrec, partitions, log_path=None, groups=()):
        """kind: "embedded" or "kafka"; the embedded broker's stderr goes to log_path (or nowhere);
        `groups`: consumer groups (kafka.group_id) whose state changelog <group>.state to create."""
        self.kind, self.proc, self.kafka = kind, None, None
        if kind == "kafka":
            from real_kafka import RealKafka

            self.kafka = RealKafka()
            self.kafka.create_streamrec_topics(streamrec, partitions, groups)
            self.bootstrap = self.kafka.bootstrap
            return
        # Without compaction: a benchmark's backlog and its lists outgrow what the
        # embedded broker's compaction allows a partition (it stops with an error
        # past that), and neither speed nor latency depends on it.
        stderr = open(log_path, "w") if log_path else subprocess.DEVNULL
        flags = [arg for group in groups for arg in ("--group", group)]
        self.proc = subprocess.Popen([streamrec, "broker", "--partitions", str(partitions), "--no-compaction", *flags],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr, text=True)
        self.bootstrap = self.proc.stdout.readline().strip()

    def stop(self):
        if self.kafka:
            self.kafka.stop()
        elif self.proc:
            self.proc.terminate()
            self.proc.wait(timeout=10)
