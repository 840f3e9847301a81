#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "learner/learner.h"
#include "model/prequential.h"

using namespace streamrec;
using namespace streamrec::model;

TEST_CASE("hit counts: recall and MRR overall and per event type") {
  HitCounts h;
  h.Record(EventType::kView, 0);             // hit at rank 1: 1/1
  h.Record(EventType::kView, std::nullopt);  // miss
  h.Record(EventType::kCart, 3);             // hit at rank 4: 1/4
  h.Record(EventType::kPurchase, std::nullopt);
  CHECK(h.scored == 4);
  CHECK(h.hits == 2);
  CHECK(h.recall() == Approx(0.5));
  CHECK(h.mrr() == Approx((1.0 + 0.25) / 4));
  CHECK(h.recall(EventType::kView) == Approx(0.5));
  CHECK(h.recall(EventType::kCart) == Approx(1.0));
  CHECK(h.recall(EventType::kPurchase) == 0);
  CHECK(h.Summary(20).rfind("recall@20 0.5000, mrr@20 0.3125 over 4", 0) == 0);
  CHECK(HitCounts{}.recall() == 0);
}

TEST_CASE("the probe ranks what the learner's scores rank, without the excluded items") {
  learner::LearnerOptions o;
  o.model = "pop";
  learner::Learner l(o);
  UserRecord user;
  l.InitUser("u", UserId(1), &user);
  UserRecord other;
  l.InitUser("o", UserId(2), &other);
  uint64_t key = 0;
  // Popularity: c (3 events) > b (2) > a (1).
  for (const char* item : {"a", "b", "b", "c", "c", "c"}) l.Observe(&other, *l.InternItem(item), EventType::kView, 0, ++key);
  ListProbe probe(&l, 2, emitter::ScoringPrecision::kFloat32);
  const ItemId a = *l.FindItem("a"), b = *l.FindItem("b"), c = *l.FindItem("c");
  CHECK(probe.Rank(user, {}, c) == 0u);
  CHECK(probe.Rank(user, {}, b) == 1u);
  CHECK_FALSE(probe.Rank(user, {}, a).has_value());  // third: outside a list of 2
  const std::vector<ItemId> seen = {c};
  CHECK(probe.Rank(user, seen, a) == 1u);             // c excluded: b, a
  REQUIRE(probe.list().size() == 2);
  CHECK(probe.list()[0].item == b);
  CHECK_FALSE(probe.Rank(user, {}, std::nullopt).has_value());
  CHECK(probe.list()[0].item == c);
}
