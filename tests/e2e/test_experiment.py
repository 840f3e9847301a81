"""An A/B experiment end to end: variants on the lists, attribution, the exact report.

Generated users are learned first without an experiment. Then `streamrec run`
starts with an experiment of two variants ("control": full lists, "short": 10
items): every user sends one event, and each list answering it must carry the
experiment and the user's variant, at the variant's length. A simulated shop
then reads each user's list and acts on it, with planted rates per variant:
clicks on a listed item (half of them echoing the list's seq), some followed by
an add-to-cart and a purchase (price and quantity on the event), and decoys that
must not count (a click older than the list, a click on an item not listed, a
click echoing another list's seq). After a restart of the pipeline (the
served lists come back from the store) those events are consumed, and
`streamrec experiments` (reading the state changelog) must report exactly the
planted counts per variant, and as many lists as the recommendations topic
holds for each variant."""

import collections
import json
import random
import time

import harness
from harness import log

USERS = 300
VARIANTS = {"control": 0.5, "short": 0.5}
CLICK_RATE = {"control": 0.3, "short": 0.8}  # planted


def experiment_config(path):
    with open(path, "w") as f:
        f.write("experiment:\n  name: e2e-lists\n  attribution_window_s: 600\n  variants:\n"
                "    - {name: control, share: 0.5}\n    - {name: short, share: 0.5, list_length: 10}\n")


def latest_lists(bootstrap):
    latest, per_variant = {}, collections.Counter()
    for m in harness.consume_all(bootstrap, "recommendations"):
        value = json.loads(m["payload"])
        latest[m["key"]] = value
        if value.get("experiment") == "e2e-lists":
            per_variant[value["variant"]] += 1
    return latest, per_variant


def main():
    t = harness.Checks()
    work = harness.WorkDir("experiment")
    broker = harness.Broker(partitions=2, compaction=False)
    try:
        events, _ = harness.generate(work, users=USERS, items=200, events=3000)
        harness.produce(broker.bootstrap, harness.as_messages(events))
        t.check(harness.run_pipeline(broker.bootstrap, work("data")).returncode == 0, "learning without an experiment")
        users = sorted({e["user_id"] for e in events})
        config = work("config.yaml")
        experiment_config(config)
        t0 = int(time.time() * 1000)
        # One event each: the lists answering them are the experiment's first.
        harness.produce(broker.bootstrap, harness.as_messages(
            {"user_id": u, "item_id": events[i % len(events)]["item_id"], "type": "view", "ts": t0}
            for i, u in enumerate(users)))
        res = harness.run_pipeline(broker.bootstrap, work("data"), extra=["--config", config])
        t.check(res.returncode == 0, "run with the experiment exits cleanly")
        t.check("experiment 'e2e-lists' running" in res.stderr, "run says the experiment is running")
        latest, _ = latest_lists(broker.bootstrap)
        variant = {u: latest[u].get("variant") for u in users if u in latest}
        t.check(len(variant) == USERS and all(v in VARIANTS for v in variant.values()),
                f"every user's list carries a variant ({collections.Counter(variant.values())})")
        t.check(all(len(latest[u]["items"]) == (10 if variant[u] == "short" else 20) for u in variant),
                "each list has its variant's length")
        split = collections.Counter(variant.values())
        t.check(min(split.values()) > USERS * 0.35, f"users split about evenly ({dict(split)})")

        # The shop: each user acts on the list they were served.
        rng = random.Random(11)
        shop, expected = [], {v: collections.Counter() for v in VARIANTS}
        for u in users:
            v, items = variant[u], [entry["item_id"] for entry in latest[u]["items"]]
            # A user's first event here is the click, so the list it hits is the one read above
            # (every event refreshes the list: the decoys come after the user's funnel).
            if rng.random() < CLICK_RATE[v]:
                item = items[2]
                click = {"user_id": u, "item_id": item, "type": "view", "ts": t0 + 2000}
                if rng.random() < 0.5:
                    click["list_seq"] = latest[u]["seq"]  # a storefront that echoes the list it showed
                shop.append(click)
                expected[v]["clicked"] += 1
                if rng.random() < 0.5:
                    shop.append({"user_id": u, "item_id": item, "type": "cart", "ts": t0 + 3000})
                    shop.append({"user_id": u, "item_id": item, "type": "purchase", "ts": t0 + 4000,
                                 "price": 12.5, "quantity": 2})
                    expected[v]["carted"] += 1
                    expected[v]["bought"] += 1
                    expected[v]["units"] += 2
                    expected[v]["revenue"] += 25.0
            if rng.random() < 0.2:  # decoys: before the list, not listed, from another list (echoed seq)
                shop.append({"user_id": u, "item_id": items[0], "type": "view", "ts": t0 - 60_000})
                shop.append({"user_id": u, "item_id": "never-listed", "type": "view", "ts": t0 + 5000})
                shop.append({"user_id": u, "item_id": items[1], "type": "view", "ts": t0 + 5500,
                             "list_seq": latest[u]["seq"] + 7})
        harness.produce(broker.bootstrap, harness.as_messages(shop))
        log(f"{len(shop)} shop events; planted {json.dumps(expected)}")
        # A new process: the lists served before come back from the store.
        res = harness.run_pipeline(broker.bootstrap, work("data"), extra=["--config", config])
        t.check(res.returncode == 0, "run after the restart exits cleanly")

        _, lists_on_topic = latest_lists(broker.bootstrap)
        out = harness.subprocess.run([harness.STREAMREC, "experiments", "--bootstrap", broker.bootstrap,
                                      "--config", config, "--json"], capture_output=True, text=True, timeout=120)
        t.check(out.returncode == 0, f"streamrec experiments exits 0 ({out.stderr.strip()[-300:]})")
        report = json.loads(out.stdout)
        by_name = {v["name"]: v for v in report["variants"]}
        for v in VARIANTS:
            got = by_name[v]
            want = expected[v]
            t.check(got["users"] == split[v], f"{v}: {got['users']} users reported, {split[v]} served")
            t.check(got["lists"] == lists_on_topic[v],
                    f"{v}: {got['lists']} lists reported, {lists_on_topic[v]} on the topic")
            for key in ("clicked", "carted", "bought", "units", "revenue"):
                t.check(got[key] == want[key], f"{v}: {key} {got[key]} == planted {want[key]}")
        ctr = by_name["short"]["against_control"]["ctr"]
        t.check(ctr["relative"] > 0 and ctr["p_value"] < 0.01,
                f"the planted CTR difference is found (relative {ctr['relative']:.2f}, p {ctr['p_value']:.2g})")
        t.check(report["sample_ratio_p"] > 0.001, f"no sample-ratio mismatch (p {report['sample_ratio_p']:.3f})")
        text = harness.subprocess.run([harness.STREAMREC, "experiments", "--bootstrap", broker.bootstrap,
                                       "--config", config], capture_output=True, text=True, timeout=120).stdout
        log("report:\n" + text)
        t.check("short against control" in text and "sample ratio" in text, "the text report compares the variants")
    finally:
        broker.stop()
        work.cleanup()
        t.finish()


if __name__ == "__main__":
    main()
