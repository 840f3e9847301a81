#!/usr/bin/env python3
"""Fails when a module depends on one at its own layer or above it.

Every top-level folder holding C++ has a layer below; a file in folder X may
include "Y/..." and X's CMake targets may link streamrec_Y only when Y is X or
Y's layer is lower than X's. A new folder must be given a layer here (and in
ARCHITECTURE.md) before it builds. No header outside store/ names a RocksDB type, none outside
kafka/ a librdkafka one. Usage: check-layers.py [REPO_ROOT]
"""
import pathlib
import re
import sys

# Lowest first. Same number: siblings, which must not use each other.
LAYERS = {
    "common": 0,                                       # vocabulary
    "kafka": 1, "catalog": 1, "learner": 1, "store": 1,  # stages
    "experiment": 1,                                   # stage: variants, attribution, statistics
    "ingest": 2, "emitter": 2,                          # stages over kafka/catalog
    "server": 3,                                        # wiring: status server
    "config": 4, "traffic": 4, "model": 4,              # wiring: shared by the pipeline and eval
    "pipeline": 5, "eval": 5,                           # the live loop; the offline replay
    "bench": 6,                                         # commands
    "cli": 7,
}
SOURCE_SUFFIXES = {".h", ".cpp"}
INCLUDE = re.compile(r'^\s*#\s*include\s+"([a-z_]+)/')
LINK = re.compile(r"target_link_libraries\(\s*(\S+)(.*?)\)", re.S)
TARGET = re.compile(r"\bstreamrec_([a-z_]+)\b")


def check_includes(root, errors):
    for path in sorted(root.glob("*/**/*")):
        if path.suffix not in SOURCE_SUFFIXES or not path.is_file():
            continue
        rel = path.relative_to(root)
        folder = rel.parts[0]
        if folder == "tests" or folder.startswith(("build", ".")):
            continue
        if folder not in LAYERS:
            errors.append(f"{rel}: folder '{folder}' has no layer in scripts/check-layers.py")
            continue
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            m = INCLUDE.match(line)
            if not m or m.group(1) == folder:
                continue
            used = m.group(1)
            if used not in LAYERS:
                errors.append(f"{rel}:{number}: includes '{used}/', which has no layer")
            elif LAYERS[used] >= LAYERS[folder]:
                errors.append(f"{rel}:{number}: {folder} (layer {LAYERS[folder]}) includes {used}/ "
                              f"(layer {LAYERS[used]}): arrows must point down")


# Third-party types that stay inside the one module that wraps them.
CONFINED = {"store": re.compile(r"rocksdb"), "kafka": re.compile(r"rdkafka|rd_kafka|RdKafka")}


def check_confined(root, errors):
    for path in sorted(root.glob("*/*.h")):
        folder = path.parent.name
        if folder not in LAYERS:
            continue
        text = path.read_text(errors="replace")
        for owner, pattern in CONFINED.items():
            if owner != folder and any(pattern.search(line) and not line.lstrip().startswith("//")
                                       for line in text.splitlines()):
                errors.append(f"{path.relative_to(root)}: names {pattern.pattern} types, which stay inside {owner}/")


def check_links(root, errors):
    for cmake in sorted(root.glob("*/CMakeLists.txt")):
        folder = cmake.parent.name
        if folder not in LAYERS:
            continue
        for m in LINK.finditer(cmake.read_text()):
            for used in TARGET.findall(m.group(2)):
                if used in ("catch_main",) or used == folder:
                    continue
                if used not in LAYERS:
                    errors.append(f"{cmake.relative_to(root)}: links streamrec_{used}, which has no layer")
                elif LAYERS[used] >= LAYERS[folder]:
                    errors.append(f"{cmake.relative_to(root)}: {folder} links streamrec_{used} "
                                  f"(layer {LAYERS[used]} >= {LAYERS[folder]})")


def main():
    root = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else pathlib.Path(__file__).parent.parent).resolve()
    errors = []
    check_includes(root, errors)
    check_links(root, errors)
    check_confined(root, errors)
    for e in errors:
        print(e)
    checked = sum(1 for f in LAYERS if (root / f).is_dir())
    print(f"check-layers: {checked} modules, {len(errors)} upward or unlayered dependencies")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
