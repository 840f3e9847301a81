#!/usr/bin/env python3
"""The docs state the present: every configuration key `streamrec run --print-config`
prints is in docs/configuration.md, every metric the status server exports is in
docs/events.md, every topic `streamrec broker` creates is in docs/events.md and
named by `streamrec broker --help`, and docs/streamrec.example.yaml is what
`--print-config` prints today. Usage: check_docs.py STREAMREC REPO_ROOT"""
import pathlib
import re
import subprocess
import sys


def config_keys(streamrec):
    """section.key for every key; section.key.child where a key is a mapping of named children."""
    out = subprocess.run([streamrec, "run", "--print-config"], capture_output=True, text=True, check=True).stdout
    keys, section, parent, children = [], None, None, 0
    for line in out.splitlines() + ["end:"]:
        if parent and not line.startswith("    "):
            if not children:
                keys.append(parent)
            parent = None
        if re.match(r"^\w+:$", line):
            section = line[:-1]
        elif re.match(r"^\w+:", line):  # a top-level scalar (log_level)
            keys.append(line.split(":")[0])
            section = None
        elif section and re.match(r"^  \w+:$", line):
            parent, children = f"{section}.{line.strip()[:-1]}", 0
        elif section and re.match(r"^  \w+:", line):
            keys.append(f"{section}.{line.split(':')[0].strip()}")
        elif parent and re.match(r"^    \w+:", line):
            keys.append(f"{parent}.{line.split(':')[0].strip()}")
            children += 1
    return [k for k in keys if k != "end"]


def main():
    streamrec, root = sys.argv[1], pathlib.Path(sys.argv[2])
    errors = []
    configuration = (root / "docs/configuration.md").read_text()
    keys = config_keys(streamrec)
    for key in keys:
        if f"`{key}`" not in configuration:
            errors.append(f"docs/configuration.md: no row for `{key}`")
    example = root / "docs/streamrec.example.yaml"
    printed = subprocess.run([streamrec, "run", "--print-config"], capture_output=True, text=True, check=True).stdout
    if example.read_text() != printed:
        errors.append(f"{example.relative_to(root)} differs from `streamrec run --print-config` "
                      "(regenerate: streamrec run --print-config > docs/streamrec.example.yaml)")
    events = (root / "docs/events.md").read_text()
    server = (root / "server/metrics_text.cpp").read_text()
    metrics = re.findall(r'->(?:Counter|Gauge|GaugeFamily|HistogramFamily)\(\s*"(\w+)"', server)
    metrics += re.findall(r'\{"(experiment_\w+)"', server)  # the experiment's per-variant table
    metrics += re.findall(r'\.Name\("streamrec_(\w+)"\)', server)
    for name in metrics:
        if f"streamrec_{name}" not in events:
            errors.append(f"docs/events.md: metric streamrec_{name} not documented")
    help_text = subprocess.run([streamrec, "broker", "--help"], capture_output=True, text=True, check=True).stdout
    topics = re.search(r"Creates the topics of the default configuration: ([^\n]*)\.", help_text)
    names = [t.split(" ")[0] for t in topics.group(1).split(", ")] if topics else []
    if len(names) < 8:
        errors.append(f"streamrec broker --help names {len(names)} topics: {names}")
    for name in names:
        if f"`{name}`" not in events and name not in ("streamrec.state", "streamrec.items"):
            errors.append(f"docs/events.md: topic `{name}` not documented")
    for e in errors:
        print(e)
    print(f"check-docs: {len(keys)} keys, {len(metrics)} metrics, {len(names)} topics; {len(errors)} undocumented")
    return 1 if errors or not keys or not metrics else 0


if __name__ == "__main__":
    sys.exit(main())
