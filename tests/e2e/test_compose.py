"""docker-compose.yml's stack, run without Docker (CI has no Docker engine).

`docker-compose config` gives the file as Compose reads it. Its kafka service's
image must be the Kafka the tests run (tests/kafka/pom.xml); its KAFKA_*
environment becomes server.properties the way the apache/kafka image does it
(KAFKA_ dropped, lower case, `_` -> `.`), with the service's hostname and ports
mapped to free loopback ports, and that broker is formatted with the file's
CLUSTER_ID and started from the fetched jars. Then the file's own commands run
against it with this build's binary: the `topics` service (its exit code must be
0), the `streamrec` service (its healthcheck must pass while it runs) and the
`loadgen` service (shortened to 3,000 events); every generated user must get a
list, and streamrec must stop cleanly on SIGTERM. The monitoring services are
checked against the same run: Prometheus' scrape target is the streamrec
service's status port, Grafana's data source is the Prometheus service and the
dashboard queries it, and every metric a dashboard panel queries is on the running
streamrec's /metrics. Not covered: the images themselves (the Dockerfile's build,
Prometheus' and Grafana's) and the kafka healthcheck's script."""

import json
import os
import re
import signal
import subprocess
import sys
import urllib.request

import yaml

import harness
from harness import log
from real_kafka import ROOT, RealKafka, free_port

COMPOSE = os.path.join(ROOT, "docker-compose.yml")


def compose_config():
    out = subprocess.run(["docker-compose", "-f", COMPOSE, "config"], capture_output=True, text=True, check=True)
    return yaml.safe_load(out.stdout)["services"]


def pinned_kafka_version():
    with open(os.path.join(ROOT, "tests", "kafka", "pom.xml")) as f:
        return re.search(r"<kafka.version>(.*)</kafka.version>", f.read()).group(1)


def broker_properties(env, host_port):
    """The apache/kafka image's env -> server.properties, on loopback ports."""
    props = {}
    for key, value in env.items():
        if not key.startswith("KAFKA_"):
            continue
        name = key[len("KAFKA_"):].lower().replace("___", "-").replace("__", "@").replace("_", ".").replace("@", "_")
        value = str(value)
        value = value.replace("kafka:19092", "127.0.0.1:{port}").replace("://:19092", "://127.0.0.1:{port}")
        value = value.replace("kafka:9093", "127.0.0.1:{controller}").replace("://:9093", "://127.0.0.1:{controller}")
        value = value.replace("localhost:9092", f"127.0.0.1:{host_port}").replace("://:9092", f"://127.0.0.1:{host_port}")
        props[name] = value
    return props


def local(command, bootstrap, work, http_port):
    """A service's command with the compose network's names replaced by this machine's."""
    out = []
    for arg in command:
        arg = arg.replace("kafka:19092", bootstrap).replace("0.0.0.0:8088", f"127.0.0.1:{http_port}")
        out.append(work("data") if arg == "/data" else arg)
    return [harness.STREAMREC] + out


def shortened(command):
    """loadgen's command with 3,000 events as fast as possible instead of a million at 2,000/s."""
    out = list(command)
    out[out.index("--events") + 1] = "3000"
    out[out.index("--rate") + 1] = "0"
    return out


def healthcheck(service, http_port):
    test = service["healthcheck"]["test"]
    assert test[0] == "CMD", test
    cmd = [arg.replace("127.0.0.1/8088", f"127.0.0.1/{http_port}") for arg in test[1:]]
    return subprocess.run(cmd, capture_output=True, timeout=10).returncode == 0


def monitoring_files(services):
    """{container path: host path} of the files the prometheus and grafana services mount."""
    mounts = {}
    for name in ("prometheus", "grafana"):
        for v in services[name]["volumes"]:  # "host:container[:mode]" (docker-compose 1.x) or a mapping
            source, target = (v["source"], v["target"]) if isinstance(v, dict) else v.split(":")[:2]
            mounts[target] = source
    return mounts


def check_monitoring(t, services, http_port):
    mounts = monitoring_files(services)
    with open(mounts["/etc/prometheus/prometheus.yml"]) as f:
        prom = yaml.safe_load(f)
    job = prom["scrape_configs"][0]
    listen = services["streamrec"]["command"][services["streamrec"]["command"].index("--set") + 1]
    port = listen.rsplit(":", 1)[1]
    t.check(job.get("metrics_path", "/metrics") == "/metrics" and
            job["static_configs"][0]["targets"] == [f"streamrec:{port}"],
            f"Prometheus scrapes the streamrec service's status port ({job['static_configs'][0]['targets']}, {listen})")
    provisioning = mounts["/etc/grafana/provisioning"]
    with open(os.path.join(provisioning, "datasources", "prometheus.yml")) as f:
        source = yaml.safe_load(f)["datasources"][0]
    published = services["prometheus"]["ports"][0]  # "[ip:]host:container[/proto]" or a mapping
    prom_port = published["target"] if isinstance(published, dict) else published.rsplit(":", 1)[1].split("/")[0]
    t.check(source["url"] == f"http://prometheus:{prom_port}", f"Grafana's data source is the Prometheus service ({source['url']})")
    dashboards = mounts["/var/lib/grafana/dashboards"]
    with open(os.path.join(dashboards, "streamrec.json")) as f:
        dashboard = json.load(f)
    exprs = [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]
    t.check(all(panel["datasource"]["uid"] == source["uid"] for panel in dashboard["panels"]),
            f"every panel queries that data source ({len(dashboard['panels'])} panels)")
    queried = {re.sub(r"_(bucket|sum|count)$", "", m) for e in exprs for m in re.findall(r"streamrec_\w+", e)}
    with urllib.request.urlopen(f"http://127.0.0.1:{http_port}/metrics", timeout=10) as r:
        text = r.read().decode()
    exported = set(re.findall(r"^# TYPE (streamrec_\w+) ", text, re.M))
    missing = sorted(queried - exported)
    t.check(len(queried) >= 20 and not missing,
            f"every metric the dashboard queries is on /metrics ({len(queried)} queried; missing: {missing})")


def main():
    t = harness.Checks()
    work = harness.WorkDir("compose")
    services = compose_config()
    kafka_service = services["kafka"]
    version = pinned_kafka_version()
    t.check(kafka_service["image"] == f"apache/kafka:{version}",
            f"the kafka service runs the Kafka the tests run ({kafka_service['image']}, tests: {version})")
    env = kafka_service["environment"]
    http_port = free_port()
    streamrec = None
    try:
        with RealKafka(broker_config=broker_properties(env, free_port()), cluster_id=env["CLUSTER_ID"]) as kafka:
            log(f"the compose file's Kafka settings serve at {kafka.bootstrap} (up in {kafka.start_seconds:.1f} s)")
            topics = subprocess.run(local(services["topics"]["command"], kafka.bootstrap, work, http_port),
                                    capture_output=True, text=True, timeout=60)
            log(topics.stdout + topics.stderr)
            t.check(topics.returncode == 0 and topics.stdout.count("created  ") == 9,
                    f"the topics service creates the 9 topics and they keep the contract ({topics.returncode})")
            cmd = local(services["streamrec"]["command"], kafka.bootstrap, work, http_port)
            with open(work("streamrec.log"), "w") as err:
                streamrec = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err)
            t.check(harness.wait_until(lambda: healthcheck(services["streamrec"], http_port), 60),
                    "the streamrec service's healthcheck passes")
            loadgen = shortened(local(services["loadgen"]["command"], kafka.bootstrap, work, http_port))
            gen = subprocess.run(loadgen, capture_output=True, text=True, timeout=120)
            t.check(gen.returncode == 0, f"the loadgen service's command feeds Kafka ({gen.returncode})")
            users = {m["key"] for m in harness.consume_all(kafka.bootstrap, "events")}

            def all_listed():
                lists = harness.consume_all(kafka.bootstrap, "recommendations")
                return users <= {m["key"] for m in lists if json.loads(m["payload"])["items"]}

            t.check(users and harness.wait_until(all_listed, 60), f"all {len(users)} generated users have a list")
            check_monitoring(t, services, http_port)
            streamrec.send_signal(signal.SIGTERM)
            t.check(streamrec.wait(timeout=60) == 0, "streamrec stops cleanly on SIGTERM (compose's stop)")
    finally:
        if streamrec and streamrec.poll() is None:
            streamrec.kill()
        if t.failed:
            with open(work("streamrec.log")) as f:
                sys.stdout.write(f.read()[-3000:])
        work.cleanup()
        t.finish()


if __name__ == "__main__":
    main()
