"""Item surfaces, end to end: similar-items, bought-together and trending on
their own compacted topics, read with kcat; events and catalog written with
kafka-python.

- each surface topic has the documented shape and keys;
- bought-together holds the planted basket partner, similar-items never the
  item itself, trending is ordered and led by the planted best seller,
  overall and in its category;
- an item going out of stock leaves every similar-items list within a bound;
- a newcomer whose only item has no co-occurrence yet gets the trending items
  of that item's category, with reason "trending" (slot 10 may hold a new
  catalog item of that category, reason "new");
- items the learner forgets (learner.max_items reached) are tombstoned on
  similar-items and bought-together: the live keys stay within the bound."""

import json
import random
import signal
import subprocess
import time

import harness
from harness import log

USERS = 200
CATEGORIES = 4
ITEMS = 160
REFRESH_BOUND_S = 10.0


def category(item):
    return f"c{int(item[1:]) % CATEGORIES}"


def latest(bootstrap, topic, tombstones=False):
    """Each key's latest value; a tombstone's is None (its key left out unless `tombstones`)."""
    out = {}
    for m in harness.consume_all(bootstrap, topic):
        out[m["key"]] = (m["offset"], None if m["payload"] is None else json.loads(m["payload"]))
    return {k: v for k, (_, v) in sorted(out.items(), key=lambda kv: kv[1][0]) if tombstones or v is not None}


def ids(value):
    return [e["item_id"] for e in value["items"]]


def main():
    checks = harness.Checks()
    broker = harness.Broker(partitions=4)
    work = harness.WorkDir("surfaces")
    stderr = open(work("run.log"), "w")
    # One partition owner publishes surfaces; a single instance owns them all.
    cmd = [harness.STREAMREC, "run", "--bootstrap", broker.bootstrap, "--data-dir", work("data"), *harness.FAST_GROUP,
           "--set", "surfaces.item_refresh_interval_s=1", "--set", "surfaces.trending_interval_s=1"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=stderr)
    rng = random.Random(11)
    items = [f"i{n}" for n in range(ITEMS)]
    star = "i8"  # category c0; every user clicks it
    try:
        harness.produce(broker.bootstrap, [(i, json.dumps({"item_id": i, "category": category(i)})) for i in items],
                        topic="catalog")
        events = []
        for u in range(USERS):
            mine = [i for i in items if int(i[1:]) % CATEGORIES == u % CATEGORIES]
            for item in rng.sample(mine, 8):
                events.append({"user_id": f"u{u}", "item_id": item, "type": "click"})
            events.append({"user_id": f"u{u}", "item_id": star, "type": "click"})
            # Planted basket: i1 is always carted together with i5.
            if u % 3 == 0:
                events.append({"user_id": f"u{u}", "item_id": "i1", "type": "cart"})
                events.append({"user_id": f"u{u}", "item_id": "i5", "type": "purchase"})
        harness.produce(broker.bootstrap, harness.as_messages(events))
        touched = {e["item_id"] for e in events}
        ok = harness.wait_until(lambda: touched <= set(latest(broker.bootstrap, "similar-items")), 60)
        checks.check(ok, f"every one of the {len(touched)} touched items has a similar-items list")
        similar = latest(broker.bootstrap, "similar-items")
        shape = all(v["item_id"] == k and v["kind"] == "similar-items" and 0 < len(v["items"]) <= 20 and
                    "model_version" in v and "generated_at" in v for k, v in similar.items())
        checks.check(shape, "similar-items values: item_id = key, kind, 1..20 items, model_version, generated_at")
        checks.check(all(k not in ids(v) for k, v in similar.items()), "no item is similar to itself")
        scores_sorted = all(all(a["score"] >= b["score"] for a, b in zip(v["items"], v["items"][1:]))
                            for v in similar.values())
        checks.check(scores_sorted, "similar items are ordered by score")

        together = latest(broker.bootstrap, "bought-together")
        checks.check("i1" in together and "i5" in ids(together["i1"]) and "i1" in ids(together["i5"]),
                     f"bought-together pairs the planted basket i1 <-> i5: {ids(together.get('i1', {'items': []}))[:5]}")
        checks.check(all(v["kind"] == "bought-together" and v["item_id"] == k for k, v in together.items()),
                     "bought-together values have the documented shape")
        click_only = [k for k in together if k not in ("i1", "i5")]
        checks.check(all(not v["items"] for k, v in together.items() if k in click_only),
                     f"items never carted have empty bought-together lists ({len(click_only)})")

        ok = harness.wait_until(lambda: "category:c3" in latest(broker.bootstrap, "trending"), 30)
        trending = latest(broker.bootstrap, "trending")
        keys = set(trending)
        checks.check(ok and keys == {"global"} | {f"category:c{c}" for c in range(CATEGORIES)},
                     f"trending keys: global and one per category: {sorted(keys)}")
        g = trending.get("global", {"items": []})
        checks.check(ids(g)[:1] == [star], f"the best seller {star} leads global trending: {ids(g)[:3]}")
        checks.check(trending.get("category:c0", {"items": [{}]})["items"][0].get("item_id") == star,
                     "and its category's")
        checks.check(all(category(i) == "c1" for i in ids(trending.get("category:c1", {"items": []}))),
                     "a category's trending list holds only its items")
        checks.check(all(v["category"] == (None if k == "global" else k.split(":", 1)[1]) and "half_life_ms" in v
                         for k, v in trending.items()), "trending values name their category and half-life")
        checks.check(all(a["score"] >= b["score"] for a, b in zip(g["items"], g["items"][1:])), "trending is ordered")

        # Out of stock: the item in the most similar-items lists.
        holders = {}
        for k, v in similar.items():
            for i in ids(v):
                holders.setdefault(i, set()).add(k)
        gone = max((i for i in holders if i != star), key=lambda i: len(holders[i]))
        log(f"{gone} is in {len(holders[gone])} similar-items lists; marking it out of stock")
        t0 = time.time()
        harness.produce(broker.bootstrap, [(gone, json.dumps({"item_id": gone, "category": category(gone),
                                                              "in_stock": False}))], topic="catalog")
        ok = harness.wait_until(lambda: all(gone not in ids(v) for v in latest(broker.bootstrap, "similar-items")
                                            .values()), REFRESH_BOUND_S * 3)
        elapsed = time.time() - t0
        checks.check(ok and elapsed < REFRESH_BOUND_S,
                     f"{gone} left all {len(holders[gone])} similar-items lists in {elapsed:.1f}s")

        # A newcomer whose only item nobody else touched: trending of that item's category.
        harness.produce(broker.bootstrap, [("lonely7", json.dumps({"item_id": "lonely7", "category": "c3"}))],
                        topic="catalog")
        time.sleep(1.5)
        harness.produce(broker.bootstrap, harness.as_messages([{"user_id": "newbie", "item_id": "lonely7",
                                                                 "type": "click"}]))
        ok = harness.wait_until(lambda: "newbie" in latest(broker.bootstrap, "recommendations"), 30)
        lst = latest(broker.bootstrap, "recommendations").get("newbie", {"items": []})
        # Slot 10 is the exploration slot (rules.exploration_slot, on by default): a new
        # catalog item of the newcomer's category may take it, with reason "new".
        reasons = {e["reason"] for k, e in enumerate(lst["items"]) if k != 9}
        explored = lst["items"][9] if len(lst["items"]) > 9 else {"reason": "none"}
        checks.check(ok and reasons == {"trending"}, f"the newcomer's list says trending: {reasons}")
        checks.check(explored["reason"] == "trending" or (explored["reason"] == "new" and category(explored["item_id"]) == "c3"),
                     f"slot 10: trending, or a new item of their category ({explored})")
        c3_first = [i for i in ids(lst) if category(i) == "c3"]
        checks.check(len(lst["items"]) == 20 and ids(lst)[:len(c3_first)] == c3_first and len(c3_first) >= 10,
                     f"led by their category's trending items ({len(c3_first)} of c3 first)")
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            checks.check(proc.wait(timeout=60) == 0, "clean stop")
        stderr.close()
        broker.stop()
        if checks.failed:
            subprocess.run(["tail", "-30", work("run.log")])
        work.cleanup()
    retraction(checks)
    checks.finish()


def retraction(checks):
    """A table of 1000 items (the least max_items) full of items seen once, then 1000 new items seen three times each."""
    bound = 1000
    broker = harness.Broker(partitions=4)
    work = harness.WorkDir("surfaces-retraction")
    extra = ["--set", f"learner.max_items={bound}", "--set", "surfaces.item_refresh_interval_s=1"]
    try:
        old = [f"old{n}" for n in range(bound)]
        harness.produce(broker.bootstrap, harness.as_messages(
            [{"user_id": f"a{n}", "item_id": item, "type": "click"} for n, item in enumerate(old)]))
        checks.check(harness.run_pipeline(broker.bootstrap, work("data"), extra=extra).returncode == 0,
                     "the run over the first items exits 0")
        before = latest(broker.bootstrap, "similar-items")
        checks.check(set(old) <= set(before), f"all {bound} first items have a similar-items list: {len(before)}")
        new = [f"new{n}" for n in range(bound)]
        harness.produce(broker.bootstrap, harness.as_messages(
            [{"user_id": f"b{n}-{k}", "item_id": item, "type": "click"} for n, item in enumerate(new) for k in range(3)]))
        res = harness.run_pipeline(broker.bootstrap, work("data"), extra=extra)
        checks.check(res.returncode == 0, "the run over the new items exits 0")
        for topic in ("similar-items", "bought-together"):
            records = latest(broker.bootstrap, topic, tombstones=True)
            live = {k for k, v in records.items() if v is not None}
            gone = {k for k, v in records.items() if v is None}
            checks.check(len(live) <= bound and len(live & set(new)) >= bound // 2,
                         f"{topic}: {len(live)} live keys (at most {bound}), {len(live & set(new))} of them new items")
            checks.check(len(gone) >= bound // 2 and gone <= set(old) | set(new),
                         f"{topic}: {len(gone)} forgotten items' records are tombstones")
    finally:
        broker.stop()
        work.cleanup()


if __name__ == "__main__":
    main()
