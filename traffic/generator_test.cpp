#include <catch2/catch.hpp>

#include <map>

#include "traffic/generator.h"

using namespace streamrec;
using namespace streamrec::traffic;

TEST_CASE("generator plants segments, a funnel, and is deterministic") {
  GeneratorOptions o;
  o.users = 100;
  o.items = 400;
  o.events = 20000;
  Generator g1(o), g2(o);
  Event e1, e2;
  uint64_t in_segment = 0, total = 0, mismatches = 0;
  std::map<EventType, int> types;
  while (g1.Next(&e1)) {
    REQUIRE(g2.Next(&e2));
    mismatches += e1.user != e2.user || e1.item != e2.item || e1.type != e2.type;
    const uint64_t u = std::stoull(e1.user.substr(1));
    const uint64_t i = std::stoull(e1.item.substr(1));
    REQUIRE(u < o.users);
    REQUIRE(i < o.items);
    in_segment += g1.UserSegment(u) == g1.ItemSegment(i);
    ++total;
    types[e1.type]++;
  }
  CHECK(total == 20000);
  CHECK(mismatches == 0);
  CHECK(static_cast<double>(in_segment) / static_cast<double>(total) > 0.85);
  CHECK(types[EventType::kCart] > 1000);
  CHECK(types[EventType::kPurchase] > 200);
  CHECK(types[EventType::kPurchase] < types[EventType::kCart]);
}
