"""A real Apache Kafka broker (KRaft, broker and controller in one JVM) for
end-to-end tests: fetched by scripts/fetch-kafka.sh into a cache outside the
repository, started on free loopback ports with a small heap, stopped and
removed whatever happens to the test (use it as a context manager).

It never skips: if Kafka cannot be fetched or started, RealKafka raises with
the broker's log, and the test fails."""

import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def kafka_home():
    """The cache directory holding lib/ (fetched on first use)."""
    out = subprocess.run([os.path.join(ROOT, "scripts", "fetch-kafka.sh")], stdout=subprocess.PIPE, text=True)
    if out.returncode != 0:
        raise RuntimeError("real Kafka could not be fetched (scripts/fetch-kafka.sh failed; see above)")
    return out.stdout.strip().splitlines()[-1]


class RealKafka:
    """One KRaft node. `broker_config`: extra server.properties lines, e.g.
    {"log.cleaner.backoff.ms": 500} for an eager cleaner."""

    START_TIMEOUT_S = 60

    def __init__(self, broker_config=None, heap_mb=512):
        self.home = kafka_home()
        self.dir = tempfile.mkdtemp(prefix="streamrec-kafka-")
        self.port, controller = free_port(), free_port()
        self.bootstrap = f"127.0.0.1:{self.port}"
        self.log_path = os.path.join(self.dir, "broker.log")
        props = {
            "process.roles": "broker,controller",
            "node.id": 1,
            "controller.quorum.voters": f"1@127.0.0.1:{controller}",
            "listeners": f"PLAINTEXT://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{controller}",
            "advertised.listeners": f"PLAINTEXT://127.0.0.1:{self.port}",
            "controller.listener.names": "CONTROLLER",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "log.dirs": os.path.join(self.dir, "data"),
            "offsets.topic.replication.factor": 1,
            "offsets.topic.num.partitions": 4,
            "transaction.state.log.replication.factor": 1,
            "transaction.state.log.min.isr": 1,
            "group.initial.rebalance.delay.ms": 0,
            "auto.create.topics.enable": "false",
        }
        props.update(broker_config or {})
        self.config_path = os.path.join(self.dir, "server.properties")
        with open(self.config_path, "w") as f:
            f.writelines(f"{k}={v}\n" for k, v in props.items())
        self.java = ["java", f"-Xmx{heap_mb}m", "-Xms64m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
                     "-Xshare:auto", f"-Dlog4j2.configurationFile={ROOT}/tests/kafka/log4j2.properties",
                     f"-Dstreamrec.kafka.log={self.log_path}", "-cp", os.path.join(self.home, "lib", "*")]
        self.proc = None
        try:
            self._start()
        except BaseException:
            self.stop()
            raise

    def _start(self):
        started = time.monotonic()
        fmt = subprocess.run(self.java + ["kafka.tools.StorageTool", "format", "-t", str(uuid.uuid4()), "-c",
                                          self.config_path, "--ignore-formatted"],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if fmt.returncode != 0:
            raise RuntimeError(f"formatting KRaft storage failed:\n{fmt.stdout}")
        self.stdout_path = os.path.join(self.dir, "stdout.log")
        with open(self.stdout_path, "w") as out:
            self.proc = subprocess.Popen(self.java + ["kafka.Kafka", self.config_path], stdout=out,
                                         stderr=subprocess.STDOUT)
        deadline = started + self.START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the Kafka broker exited with {self.proc.returncode}:\n{self.tail()}")
            probe = subprocess.run(["kcat", "-b", self.bootstrap, "-L", "-m", "2"], stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL)
            if probe.returncode == 0:
                self.start_seconds = time.monotonic() - started
                return
            time.sleep(0.2)
        raise RuntimeError(f"the Kafka broker served no metadata within {self.START_TIMEOUT_S} s:\n{self.tail()}")

    def tail(self, lines=40):
        text = ""
        for path in (self.stdout_path if self.proc else None, self.log_path):
            if path and os.path.exists(path):
                with open(path, errors="replace") as f:
                    text += "".join(f.readlines()[-lines:])
        return text

    def log_text(self):
        if not os.path.exists(self.log_path):
            return ""
        with open(self.log_path, errors="replace") as f:
            return f.read()

    def create_topic(self, name, partitions, compacted=False, config=None):
        """Through an independent admin client (confluent-kafka), with per-topic
        `config` (e.g. {"segment.bytes": 1048576})."""
        from confluent_kafka.admin import AdminClient, NewTopic

        settings = {k: str(v) for k, v in (config or {}).items()}
        if compacted:
            settings.setdefault("cleanup.policy", "compact")
        admin = AdminClient({"bootstrap.servers": self.bootstrap})
        futures = admin.create_topics([NewTopic(name, partitions, 1, config=settings)], operation_timeout=30)
        futures[name].result(timeout=60)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
