"""bench/scale_out.py measures what it says, at a size CI affords.

A generated log of 6,000 events goes through one instance and through a group of
3 on 4 partitions (the bench's own run, the log loaded at 2,000 events/s). Checked:
both runs applied every event; every member published some of the item surfaces
(each item's by the owner of the partition its id is keyed to) and the group's
similar-items hold a key for every item the single instance's do; the members' online
blends agree (each applies the others' steps); every member's item state holds the single
instance's item events and co-occurrence totals (the item side shared through
the group's item updates, docs/SCALE_OUT.md); both runs' live recall was measured
over the same scored events."""

import json
import os
import subprocess
import sys

import harness

EVENTS = 6000


def main():
    t = harness.Checks()
    work = harness.WorkDir("scale_out")
    try:
        subprocess.run([harness.STREAMREC, "generate", "--users", "500", "--items", "300", "--events", str(EVENTS),
                        "--seed", "11", "--out", work("gen.jsonl")], check=True, capture_output=True, timeout=60)
        bench = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "bench", "scale_out.py")
        res = subprocess.run([sys.executable, bench, harness.STREAMREC, "--events", work("gen.jsonl"), "--json",
                              "--broker", "kafka" if harness.BACKEND == "kafka" else "embedded"],
                             capture_output=True, text=True, timeout=300)
        t.check(res.returncode == 0, f"the bench ran ({res.returncode}) {res.stderr[-2000:]}")
        out = json.loads(res.stdout)
        one, group = out["one"], out["group"]
        t.check(one["applied"] == EVENTS and group["applied"] == EVENTS,
                f"both runs applied every event ({one['applied']}, {group['applied']})")
        shares = [(s["item_events"], s["cooc_weight"]) for s in out["item_state_shares"]]
        t.check(len(shares) == 3 and all(s == (1.0, 1.0) for s in shares),
                f"3 members, each holding the single instance's item events and co-occurrences {shares}")
        t.check(one["scored"] == group["scored"] and one["scored"] > 1000,
                f"live recall over the same scored events ({one['scored']}, {group['scored']})")
        t.check(one["recall"] > 0 and group["recall"] > 0 and out["recall_ratio"] > 0,
                f"recall measured: {one['recall']:.4f} and {group['recall']:.4f}")
        lists = out["item_lists_published"]
        t.check(len(lists) == 3 and all(n > 0 for n in lists),
                f"every member published item lists (each item's by its partition's owner): {lists}")
        similar = out["surfaces"]["similar-items"]
        t.check(similar["keys"] > 250 and similar["keys_only_group"] == 0 and similar["keys_only_single"] == 0,
                f"the group's similar-items hold a record for every item the single instance's do: {similar}")
        # One blend: every member's weights learned from every member's outcomes
        # (their steps go with the item updates). The co-occurrence and session
        # weights (absolute: /metrics gives them relative to the factorisation's)
        # agree but for float sums; the factorisation's own weight is clamped at
        # its floor in each member's order of steps, and is not compared.
        blends = out["blend"]["group"]
        absolute = [{k: b[k] * b["mf"] for k in ("cooc", "session")} for b in blends]
        spreads = {k: (max(a[k] for a in absolute) - min(a[k] for a in absolute)) / max(a[k] for a in absolute)
                   for k in ("cooc", "session")}
        t.check(len(blends) == 3 and all(s < 0.01 for s in spreads.values()) and
                abs(absolute[0]["cooc"] - 20.0) > 0.2,
                f"the members learned one blend (absolute co-occurrence and session weights {absolute}, "
                f"relative spread {spreads}; the factorisation's {[b['mf'] for b in blends]})")
        t.check(one["cpu_us_per_event"] > 0 and group["cpu_us_per_event"] > 0,
                f"CPU per event measured: {one['cpu_us_per_event']:.1f} and {group['cpu_us_per_event']:.1f} us")
    finally:
        work.cleanup()
        t.finish()


if __name__ == "__main__":
    main()
