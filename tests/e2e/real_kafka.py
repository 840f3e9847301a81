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


def kafka_home(version=None):
    """The cache directory holding lib/ (fetched on first use); `version`
    None: the one tests/kafka/pom.xml pins."""
    out = subprocess.run([os.path.join(ROOT, "scripts", "fetch-kafka.sh")] + ([version] if version else []),
                         stdout=subprocess.PIPE, text=True)
    if out.returncode != 0:
        raise RuntimeError("real Kafka could not be fetched (scripts/fetch-kafka.sh failed; see above)")
    return out.stdout.strip().splitlines()[-1]


class RealKafka:
    """One KRaft node. `broker_config`: extra server.properties lines, e.g.
    {"log.cleaner.backoff.ms": 500} for an eager cleaner. `scram_users`
    ({name: password}) adds a SASL_PLAINTEXT listener with SCRAM-SHA-512 at
    `sasl_bootstrap` (the PLAINTEXT one stays for the tests' own clients);
    `plain_users` the same with PLAIN. `version`: another Kafka than the pinned one.
    `broker_config` values may name the fixture's ports as {port} (the PLAINTEXT
    listener, `bootstrap`) and {controller}; `cluster_id` is KRaft's (a base64 UUID).
    In a cluster (KafkaCluster): `node_id`, `controller` (its port), `voters`
    (controller.quorum.voters) and `wait` False (the cluster waits for all)."""

    START_TIMEOUT_S = 60

    def __init__(self, broker_config=None, heap_mb=512, scram_users=None, plain_users=None, version=None,
                 cluster_id=None, node_id=1, controller=None, voters=None, wait=True):
        self.home = kafka_home(version)
        self.dir = tempfile.mkdtemp(prefix="streamrec-kafka-")
        self.port, controller = free_port(), controller or free_port()
        self.bootstrap = f"127.0.0.1:{self.port}"
        self.log_path = os.path.join(self.dir, "broker.log")
        listeners = [f"PLAINTEXT://127.0.0.1:{self.port}"]
        protocols = "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT"
        self.scram = [f"SCRAM-SHA-512=[name=\"{n}\",password=\"{p}\"]" for n, p in (scram_users or {}).items()]
        if self.scram or plain_users:
            sasl_port = free_port()
            self.sasl_bootstrap = f"127.0.0.1:{sasl_port}"
            listeners.append(f"SASL_PLAINTEXT://127.0.0.1:{sasl_port}")
            protocols += ",SASL_PLAINTEXT:SASL_PLAINTEXT"
        props = {
            "process.roles": "broker,controller",
            "node.id": node_id,
            "controller.quorum.voters": voters or f"1@127.0.0.1:{controller}",
            "listeners": ",".join(listeners + [f"CONTROLLER://127.0.0.1:{controller}"]),
            "advertised.listeners": ",".join(listeners),
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "listener.security.protocol.map": protocols,
            "log.dirs": os.path.join(self.dir, "data"),
            "offsets.topic.replication.factor": 1,
            "offsets.topic.num.partitions": 4,
            "transaction.state.log.replication.factor": 1,
            "transaction.state.log.min.isr": 1,
            "group.initial.rebalance.delay.ms": 0,
            "auto.create.topics.enable": "false",
        }
        if self.scram or plain_users:
            props["sasl.enabled.mechanisms"] = "SCRAM-SHA-512,PLAIN"
            props["listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config"] = (
                "org.apache.kafka.common.security.scram.ScramLoginModule required;")
            users = " ".join(f'user_{n}="{p}"' for n, p in (plain_users or {}).items())
            props["listener.name.sasl_plaintext.plain.sasl.jaas.config"] = (
                f"org.apache.kafka.common.security.plain.PlainLoginModule required {users};")
        props.update({k: str(v).format(port=self.port, controller=controller) for k, v in (broker_config or {}).items()})
        self.cluster_id = cluster_id or str(uuid.uuid4())
        self.config_path = os.path.join(self.dir, "server.properties")
        with open(self.config_path, "w") as f:
            f.writelines(f"{k}={v}\n" for k, v in props.items())
        self.java = ["java", f"-Xmx{heap_mb}m", "-Xms64m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
                     "-Xshare:auto", f"-Dlog4j2.configurationFile={ROOT}/tests/kafka/log4j2.properties",
                     f"-Dstreamrec.kafka.log={self.log_path}", "-cp", os.path.join(self.home, "lib", "*")]
        self.proc = None
        self.stdout_path = os.path.join(self.dir, "stdout.log")
        try:
            self.started = time.monotonic()
            self._format()
            self.spawn()
            if wait:
                self.wait_ready()
        except BaseException:
            self.stop()
            raise

    def _format(self):
        scram = [arg for user in self.scram for arg in ("--add-scram", user)]
        fmt = subprocess.run(self.java + ["kafka.tools.StorageTool", "format", "-t", self.cluster_id, "-c",
                                          self.config_path, "--ignore-formatted", *scram],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if fmt.returncode != 0:
            raise RuntimeError(f"formatting KRaft storage failed:\n{fmt.stdout}")

    def spawn(self):
        """Starts the JVM on the formatted storage (again, after kill())."""
        with open(self.stdout_path, "a") as out:
            self.proc = subprocess.Popen(self.java + ["kafka.Kafka", self.config_path], stdout=out,
                                         stderr=subprocess.STDOUT)

    def kill(self):
        """SIGKILL, as a machine failing: no controlled shutdown."""
        self.proc.kill()
        self.proc.wait()

    def wait_ready(self):
        """Until this node serves metadata; sets start_seconds (since the start or the last spawn)."""
        started = self.started
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
        for path in (self.stdout_path, self.log_path):
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

    def create_streamrec_topics(self, streamrec, partitions, groups=(), topic_config=None, replication=None):
        """streamrec's topics, made by `streamrec topics create` (what docker-compose.yml
        runs): `groups` add their <group>.state, `topic_config` is {topic: {setting: value}}."""
        cmd = [streamrec, "topics", "create", "--bootstrap", self.bootstrap, "--partitions", str(partitions)]
        for group in groups:
            cmd += ["--group", group]
        for topic, settings in (topic_config or {}).items():
            cmd += [arg for k, v in settings.items() for arg in ("--topic-config", f"{topic}:{k}={v}")]
        if replication:
            cmd += ["--replication-factor", str(replication)]
        out = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if out.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} exited with {out.returncode}:\n{out.stdout}")
        return out.stdout

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


class KafkaCluster:
    """Three KRaft nodes (broker and controller each, one quorum) on loopback
    ports, with replication factor 3 and min.insync.replicas 2 as defaults.
    `nodes[i].kill()` / `restart(i)` take one down and bring it back."""

    def __init__(self, size=3, heap_mb=384):
        controllers = [free_port() for _ in range(size)]
        voters = ",".join(f"{i + 1}@127.0.0.1:{port}" for i, port in enumerate(controllers))
        config = {"default.replication.factor": size, "min.insync.replicas": 2,
                  "offsets.topic.replication.factor": size, "transaction.state.log.replication.factor": size,
                  "transaction.state.log.min.isr": 2, "unclean.leader.election.enable": "false"}
        cluster_id = str(uuid.uuid4())
        self.nodes = []
        try:
            for i in range(size):
                self.nodes.append(RealKafka(broker_config=config, heap_mb=heap_mb, cluster_id=cluster_id,
                                            node_id=i + 1, controller=controllers[i], voters=voters, wait=False))
            for node in self.nodes:
                node.wait_ready()
            self.start_seconds = max(node.start_seconds for node in self.nodes)
        except BaseException:
            self.stop()
            raise
        self.bootstrap = ",".join(node.bootstrap for node in self.nodes)

    def node_of(self, broker_id):
        return self.nodes[broker_id - 1]

    def restart(self, broker_id):
        node = self.node_of(broker_id)
        node.started = time.monotonic()
        node.spawn()
        node.wait_ready()
        return node.start_seconds

    def stop(self):
        for node in self.nodes:
            node.stop()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
