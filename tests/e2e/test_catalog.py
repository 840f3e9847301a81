"""Catalog and rules, end to end: a running pipeline, a catalog written with
kafka-python, lists read with kcat.

- an item going out of stock leaves every list that held it within a bounded
  time, without any event from those users (reverse index, source.offset -1);
- an item whose availability window ends leaves the lists the same way;
- a new catalog item with no events reaches the lists of its category's users
  (exploration slot, reason "new") and no one else's;
- rules change behaviour after the config file is saved, without a restart:
  a pinned item takes slot 1, a hidden brand disappears;
- every list entry carries a documented reason; a bad catalog message is
  dead-lettered with its reason; the catalog survives a restart;
- a broken rules file is refused, and SIGHUP re-reads the rules."""

import collections
import json
import os
import random
import signal
import subprocess
import time

import harness
from harness import log

USERS = 120
CATEGORIES = 4
ITEMS_PER_CATEGORY = 50
CLICKS_PER_USER = 12
REFRESH_BOUND_S = 10.0
REASONS = {"personal", "trending", "new", "pinned", "boosted"}


def category_of_user(u):
    return u % CATEGORIES


def items_of(category):
    return [f"i{n}" for n in range(category, CATEGORIES * ITEMS_PER_CATEGORY, CATEGORIES)]


def catalog_entry(item, **extra):
    n = int(item[1:]) if item[1:].isdigit() else 0
    entry = {"item_id": item, "category": f"c{n % CATEGORIES}", "brand": f"b{n % 10}", "price": 10 + n % 7,
             "in_stock": True}
    entry.update(extra)
    return entry


def write_config(path, rules):
    with open(path, "w") as f:
        f.write("rules:\n")
        for line in rules:
            f.write(f"  {line}\n")


def latest_lists(bootstrap):
    latest = {}
    for m in harness.consume_all(bootstrap, "recommendations"):
        v = json.loads(m["payload"])
        if m["key"] not in latest or v["seq"] > latest[m["key"]]["seq"]:
            latest[m["key"]] = v
    return latest


def ids(lst):
    return [e["item_id"] for e in lst["items"]]


def events_for(users, rng, per_user):
    out = []
    for u in users:
        pool = items_of(category_of_user(u))
        for item in rng.sample(pool, per_user):
            out.append({"user_id": f"u{u}", "item_id": item, "type": "click"})
    return out


def main():
    checks = harness.Checks()
    broker = harness.Broker(partitions=4)
    work = harness.WorkDir("catalog")
    config = work("streamrec.yaml")
    write_config(config, ["exploration_slot: 3", "new_item_max_events: 0"])
    stderr = open(work("run.log"), "w")
    cmd = [harness.STREAMREC, "run", "--config", config, "--bootstrap", broker.bootstrap, "--data-dir", work("data"),
           *harness.FAST_GROUP]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=stderr)
    rng = random.Random(5)
    try:
        all_items = [i for c in range(CATEGORIES) for i in items_of(c)]
        harness.produce(broker.bootstrap, [(i, json.dumps(catalog_entry(i))) for i in all_items], topic="catalog")
        harness.produce(broker.bootstrap, [("bad", '{"item_id":"bad","price":"free"}')], topic="catalog")
        # Every item gets an event first, so a new catalog item is the only one without events.
        warmup = [{"user_id": f"u{(int(i[1:]) % CATEGORIES)}", "item_id": i, "type": "click"} for i in all_items]
        harness.produce(broker.bootstrap, harness.as_messages(warmup + events_for(range(USERS), rng, CLICKS_PER_USER)))
        ok = harness.wait_until(lambda: len(latest_lists(broker.bootstrap)) == USERS, 90)
        checks.check(ok, f"all {USERS} users have a list")
        lists = latest_lists(broker.bootstrap)
        reasons = {e["reason"].split(":")[0] if e["reason"].startswith("similar_to:") else e["reason"]
                   for lst in lists.values() for e in lst["items"]}
        checks.check(reasons <= REASONS | {"similar_to"}, f"every reason is documented: {sorted(reasons)}")
        similar = [e["reason"] for lst in lists.values() for e in lst["items"] if e["reason"].startswith("similar_to:")]
        checks.check(all(r[len("similar_to:"):] in all_items for r in similar),
                     f"similar_to names an item ({len(similar)} such entries)")

        # Out of stock: the item held by the most lists.
        holders = collections.Counter(i for lst in lists.values() for i in ids(lst))
        gone, held_by = holders.most_common(1)[0]
        users_with = {u for u, lst in lists.items() if gone in ids(lst)}
        log(f"{gone} is in {held_by} lists; marking it out of stock")
        t0 = time.time()
        harness.produce(broker.bootstrap, [(gone, json.dumps(catalog_entry(gone, in_stock=False)))], topic="catalog")

        def refreshed(item, users):
            now = latest_lists(broker.bootstrap)
            return all(item not in ids(now[u]) for u in users)

        ok = harness.wait_until(lambda: refreshed(gone, users_with), REFRESH_BOUND_S * 3)
        elapsed = time.time() - t0
        checks.check(ok and elapsed < REFRESH_BOUND_S,
                     f"out-of-stock {gone} left all {len(users_with)} lists in {elapsed:.1f}s (bound {REFRESH_BOUND_S}s)")
        now = latest_lists(broker.bootstrap)
        checks.check(all(now[u]["source"]["offset"] == -1 for u in users_with),
                     "those lists were refreshed by the catalog change (source.offset -1), not by events")
        checks.check(all(gone not in ids(lst) for lst in now.values()), f"no list holds {gone}")

        # Availability window ends in 3 s.
        lists = latest_lists(broker.bootstrap)
        holders = collections.Counter(i for lst in lists.values() for i in ids(lst))
        ending = holders.most_common(1)[0][0]
        ending_users = {u for u, lst in lists.items() if ending in ids(lst)}
        until = int(time.time() * 1000) + 3000
        harness.produce(broker.bootstrap, [(ending, json.dumps(catalog_entry(ending, available_until=until)))],
                        topic="catalog")
        ok = harness.wait_until(lambda: refreshed(ending, ending_users), 3 + REFRESH_BOUND_S)
        checks.check(ok and time.time() * 1000 >= until,
                     f"{ending} left its {len(ending_users)} lists after its window ended")

        # A new item in category c1 with no events.
        fresh = "fresh-1"
        harness.produce(broker.bootstrap, [(fresh, json.dumps(catalog_entry(fresh, category="c1")))], topic="catalog")
        time.sleep(1)
        c1 = [u for u in range(USERS) if category_of_user(u) == 1][:10]
        c2 = [u for u in range(USERS) if category_of_user(u) == 2][:10]
        before = latest_lists(broker.bootstrap)
        harness.produce(broker.bootstrap, harness.as_messages(events_for(c1 + c2, rng, 1)))
        ok = harness.wait_until(lambda: all(latest_lists(broker.bootstrap)[f"u{u}"]["seq"] > before[f"u{u}"]["seq"]
                                            for u in c1 + c2), 30)
        now = latest_lists(broker.bootstrap)
        got = [u for u in c1 if any(e["item_id"] == fresh and e["reason"] == "new" for e in now[f"u{u}"]["items"])]
        checks.check(ok and len(got) == len(c1), f"new item reached {len(got)}/{len(c1)} lists of its category, as 'new'")
        checks.check(all(fresh not in ids(now[f"u{u}"]) for u in c2), "and no list of another category")
        checks.check(all(now[f"u{u}"]["items"][2]["item_id"] == fresh for u in c1), "in the exploration slot (3)")

        # Rules reload: pin an item, hide a brand.
        pinned = items_of(3)[0]
        write_config(config, ["exploration_slot: 3", "new_item_max_events: 0", f"pins: {{{pinned}: 1}}",
                              'boost: {"brand:b4": -.inf}'])
        ok = harness.wait_for_text(work("run.log"), "list rules reloaded", 20)
        checks.check(ok, "the pipeline reloaded its rules without a restart")
        targets = [u for u in range(USERS) if category_of_user(u) == 0][:10]
        before = latest_lists(broker.bootstrap)
        harness.produce(broker.bootstrap, harness.as_messages(events_for(targets, rng, 1)))
        ok = harness.wait_until(lambda: all(latest_lists(broker.bootstrap)[f"u{u}"]["seq"] > before[f"u{u}"]["seq"]
                                            for u in targets), 30)
        now = latest_lists(broker.bootstrap)
        first = [now[f"u{u}"]["items"][0] for u in targets]
        checks.check(ok and all(e["item_id"] == pinned and e["reason"] == "pinned" for e in first),
                     f"pinned {pinned} is first in all {len(targets)} refreshed lists")
        brand4 = {i for i in all_items if int(i[1:]) % 10 == 4}
        checks.check(all(not brand4 & set(ids(now[f"u{u}"])) for u in targets), "hidden brand b4 is in none of them")

        # A broken rules file is refused; the rules in force stay.
        write_config(config, ["exploration_slot: 3", f"pins: {{{pinned}: 99}}"])
        ok = harness.wait_for_text(work("run.log"), "keeping the current rules", 20)
        checks.check(ok, "an invalid rules file is logged and refused")
        # A valid file whose modification time did not move counts only after SIGHUP.
        broken = os.stat(config)
        write_config(config, ["exploration_slot: 3", "new_item_max_events: 0"])
        os.utime(config, ns=(broken.st_atime_ns, broken.st_mtime_ns))
        reloads = lambda: open(work("run.log")).read().count("list rules reloaded")
        before_hup = reloads()
        time.sleep(2.5)
        checks.check(reloads() == before_hup, "an unchanged file is not re-read")
        proc.send_signal(signal.SIGHUP)
        ok = harness.wait_until(lambda: reloads() == before_hup + 1, 10)
        checks.check(ok, "SIGHUP re-reads the rules")
        before = latest_lists(broker.bootstrap)
        harness.produce(broker.bootstrap, harness.as_messages(events_for(targets, rng, 1)))
        ok = harness.wait_until(lambda: all(latest_lists(broker.bootstrap)[f"u{u}"]["seq"] > before[f"u{u}"]["seq"]
                                            for u in targets), 30)
        now = latest_lists(broker.bootstrap)
        checks.check(ok and all(now[f"u{u}"]["items"][0]["reason"] != "pinned" for u in targets),
                     "after it the pin is gone from the refreshed lists")

        dead = [m for m in harness.consume_all(broker.bootstrap, "events.dlq")]
        checks.check(any(m["key"] == "bad" for m in dead), f"the bad catalog message was dead-lettered ({len(dead)})")
        checks.check(any("bad_field:price" in json.dumps(m.get("headers")) and "catalog" in json.dumps(m.get("headers"))
                         for m in dead), "with its reason and source topic")

        proc.send_signal(signal.SIGTERM)
        checks.check(proc.wait(timeout=60) == 0, "clean stop")
        st = harness.state(work("data"))
        checks.check(any(k.startswith("catalog/") for k in st["offsets"]), "catalog positions are stored with the state")
        # After a restart the out-of-stock item is still excluded.
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=stderr)
        holder_users = [u for u in range(USERS) if category_of_user(u) == int(gone[1:]) % CATEGORIES][:5]
        before = latest_lists(broker.bootstrap)
        harness.produce(broker.bootstrap, harness.as_messages(events_for(holder_users, rng, 1)))
        ok = harness.wait_until(lambda: all(latest_lists(broker.bootstrap)[f"u{u}"]["seq"] > before[f"u{u}"]["seq"]
                                            for u in holder_users), 60)
        now = latest_lists(broker.bootstrap)
        checks.check(ok and all(gone not in ids(now[f"u{u}"]) for u in holder_users),
                     f"after a restart {gone} is still out of every refreshed list")
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=60)
        stderr.close()
        broker.stop()
        if checks.failed:
            os.system(f"tail -30 {work('run.log')}")
        work.cleanup()
    checks.finish()


if __name__ == "__main__":
    main()
