// The item table's bound (learner.max_items): cold items replaced, one-off ids refused.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "common/hash.h"
#include "learner/frequency_sketch.h"
#include "learner/learner.h"

using namespace streamrec;
using namespace streamrec::learner;

namespace {

LearnerOptions Small(size_t max_items) {
  LearnerOptions o;
  o.dim = 8;
  o.max_items = max_items;
  return o;
}

// One user's events on `item` at event time `ts`; false if the item was refused.
bool See(Learner* l, UserRecord* user, const std::string& item, int64_t ts, uint64_t key) {
  const std::optional<ItemId> id = l->InternItem(item);
  if (!id) return false;
  l->Observe(user, *id, EventType::kView, ts, key);
  return true;
}

}  // namespace

TEST_CASE("frequency sketch: counts what it sees, overestimates only, and forgets by halving") {
  FrequencySketch sketch(1024);
  for (int i = 0; i < 5; ++i) sketch.Add(Mix64(1));
  sketch.Add(Mix64(2));
  CHECK(sketch.Estimate(Mix64(1)) == 5);
  CHECK(sketch.Estimate(Mix64(2)) >= 1);
  CHECK(sketch.Estimate(Mix64(3)) <= 1);
  for (uint64_t k = 10; sketch.Estimate(Mix64(1)) == 5 && k < 20000; ++k) sketch.Add(Mix64(k));
  CHECK(sketch.Estimate(Mix64(1)) == 2);  // halved once after 10 x width additions
}

TEST_CASE("frequency sketch: a first sighting counts 1 whatever flood came before it in the period") {
  FrequencySketch sketch(1024);  // halves every 10,240 sightings
  for (int i = 0; i < 50; ++i) sketch.Add(Mix64(7));
  int first_is_one = 0;
  // 9,000 new keys in one period: their first sightings leave the counters
  // alone (no count-min saturation), only the doorkeeper errs now and then.
  for (uint64_t k = 100; k < 9100; ++k) first_is_one += sketch.Add(Mix64(k)) == 1 ? 1 : 0;
  CHECK(first_is_one >= 8900);
  CHECK(sketch.Estimate(Mix64(7)) == 50);
  CHECK(sketch.Add(Mix64(100)) >= 2);  // seen again
}

TEST_CASE("a full item table replaces a cold item by one seen again, and refuses ids seen once") {
  Learner l(Small(1000));
  UserRecord user;
  l.InitUser("u", UserId(0), &user);
  uint64_t key = 0;
  // 1,000 items, the first 100 popular and recent, the rest seen once long ago.
  for (int i = 0; i < 1000; ++i) REQUIRE(See(&l, &user, "old" + std::to_string(i), 0, ++key));
  for (int round = 0; round < 5; ++round) {
    for (int i = 0; i < 100; ++i) REQUIRE(See(&l, &user, "old" + std::to_string(i), 1'000'000'000, ++key));
  }
  REQUIRE(l.item_count() == 1000);
  // A flood of ids seen once each, past two halvings of the sketch (every
  // 10,240 sightings): refused, but for the doorkeeper's errors, even once
  // the cold items' counts have aged to nothing (before the doorkeeper:
  // 6,208 of 20,000 took a slot); the popular items stay.
  int refused = 0;
  for (int i = 0; i < 20000; ++i) refused += See(&l, &user, "bot" + std::to_string(i), 2'000'000'000, ++key) ? 0 : 1;
  CHECK(l.item_count() == 1000);
  CHECK(refused >= 19600);
  for (int i = 0; i < 100; ++i) CHECK(l.FindItem("old" + std::to_string(i)).has_value());
  // An item shoppers come back to is admitted on its second sighting, in a cold item's slot.
  CHECK_FALSE(l.InternItem("hit").has_value());
  const std::optional<ItemId> hit = l.InternItem("hit");
  REQUIRE(hit.has_value());
  CHECK(l.ItemExternalId(*hit) == "hit");
  CHECK(l.ItemEvents(*hit) == 0);  // a fresh slot: nothing of the old item
  CHECK(l.item_count() == 1000);
  CHECK(l.item_churn().replaced >= 1);
  CHECK(l.item_churn().refused >= static_cast<uint64_t>(refused));
  CHECK(hit->value() >= 100);  // never one of the popular ones
}

TEST_CASE("a replaced item leaves no trace in other items' co-occurrence rows") {
  Learner l(Small(1000));
  UserRecord user;
  l.InitUser("u", UserId(0), &user);
  uint64_t key = 0;
  for (int i = 0; i < 1000; ++i) REQUIRE(See(&l, &user, "i" + std::to_string(i), i < 500 ? 1'000'000'000 : 0, ++key));
  std::vector<ItemRecord> dirty;
  l.TakeDirtyItems(&dirty);
  // A new item seen twice takes a slot; whoever named the old item no longer does.
  l.InternItem("new");
  const std::optional<ItemId> fresh = l.InternItem("new");
  REQUIRE(fresh.has_value());
  std::vector<std::pair<ItemId, float>> row;
  for (uint32_t i = 0; i < 1000; ++i) {
    l.ItemNeighbors(ItemId(i), /*basket=*/false, &row);
    for (const auto& [neighbor, weight] : row) {
      if (neighbor == *fresh) FAIL("item " << i << " still names the replaced item's slot");
    }
  }
  l.ItemNeighbors(*fresh, false, &row);
  CHECK(row.empty());
  // The slot and the rows it left are persisted with the next records.
  l.TakeDirtyItems(&dirty);
  bool slot_written = false;
  for (const ItemRecord& r : dirty) {
    if (r.id == *fresh) slot_written = r.external_id == "new" && r.with_neighbors && r.neighbors.empty();
  }
  CHECK(slot_written);
  CHECK(dirty.size() > 1);
}

TEST_CASE("catalog items are pinned: never replaced, admitted whatever their frequency") {
  Learner l(Small(1000));
  UserRecord user;
  l.InitUser("u", UserId(0), &user);
  std::vector<ItemId> catalog;
  for (int i = 0; i < 990; ++i) catalog.push_back(*l.InternItemLike("sku" + std::to_string(i), {}));
  uint64_t key = 0;
  for (int i = 0; i < 10; ++i) REQUIRE(See(&l, &user, "e" + std::to_string(i), 0, ++key));
  // Full: a new catalog item takes an event item's slot at once; events never take a catalog item's.
  const std::optional<ItemId> sku = l.InternItemLike("sku-new", {});
  REQUIRE(sku.has_value());
  for (int i = 0; i < 2000; ++i) {
    l.InternItem("flood" + std::to_string(i % 50));
  }
  for (int i = 0; i < 990; ++i) CHECK(l.FindItem("sku" + std::to_string(i)) == catalog[static_cast<size_t>(i)]);
  CHECK(l.FindItem("sku-new") == sku);
  CHECK(l.item_count() == 1000);
}

TEST_CASE("10 million random item ids: the table stays at max_items, new ones cost O(1), popular items stay",
          "[flood]") {
  Learner l(Small(10'000));
  UserRecord user;
  l.InitUser("u", UserId(0), &user);
  uint64_t key = 0;
  for (int round = 0; round < 20; ++round) {
    for (int i = 0; i < 1000; ++i) REQUIRE(See(&l, &user, "shop" + std::to_string(i), round, ++key));
  }
  for (uint64_t i = 0; i < 10'000'000; ++i) {
    See(&l, &user, "bot" + std::to_string(Mix64(i)), 100 + static_cast<int64_t>(i), ++key);
    // The shop's items are still bought now and then.
    if (i % 1000 == 0) See(&l, &user, "shop" + std::to_string((i / 1000) % 1000), 100 + static_cast<int64_t>(i), ++key);
  }
  CHECK(l.item_count() == 10'000);
  size_t kept = 0;
  for (int i = 0; i < 1000; ++i) kept += l.FindItem("shop" + std::to_string(i)).has_value() ? 1 : 0;
  CHECK(kept >= 990);
  CHECK(l.item_churn().refused > 5'000'000);
}
