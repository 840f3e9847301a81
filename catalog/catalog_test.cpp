#include <catch2/catch.hpp>

#include "catalog/catalog.h"

namespace streamrec::catalog {
namespace {

CatalogUpdate Entry(const std::string& id, const std::string& category, bool in_stock = true) {
  CatalogUpdate u;
  u.entry.item_id = id;
  u.entry.category = category;
  u.entry.in_stock = in_stock;
  return u;
}

TEST_CASE("items without an entry are available; an entry out of stock is not") {
  Catalog c;
  CHECK(c.Available(ItemId(7)));
  CHECK_FALSE(c.Tracks(ItemId(7)));
  ApplyOutcome o = c.Apply(ItemId(1), Entry("a", "shoes"), 1000);
  CHECK(o.first_entry);
  CHECK_FALSE(o.became_unavailable);
  CHECK(c.Available(ItemId(1)));
  o = c.Apply(ItemId(1), Entry("a", "shoes", false), 2000);
  CHECK(o.became_unavailable);
  CHECK_FALSE(o.first_entry);
  CHECK_FALSE(c.Available(ItemId(1)));
  o = c.Apply(ItemId(1), Entry("a", "shoes", false), 3000);
  CHECK_FALSE(o.became_unavailable);  // it already was
  CHECK(c.arrivals().size() == 1);
  CHECK(c.arrivals().front().at_ms == 1000);
  CHECK(c.Tracks(ItemId(1)));
}

TEST_CASE("categories index their items and follow re-categorisation and tombstones") {
  Catalog c;
  c.Apply(ItemId(1), Entry("a", "shoes"), 0);
  c.Apply(ItemId(2), Entry("b", "shoes"), 0);
  c.Apply(ItemId(3), Entry("c", "hats"), 0);
  const CategoryId shoes = *c.FindCategory("shoes");
  CHECK(c.ItemsIn(shoes).size() == 2);
  c.Apply(ItemId(2), Entry("b", "hats"), 0);
  CHECK(c.ItemsIn(shoes).size() == 1);
  CHECK(c.ItemsIn(*c.FindCategory("hats")).size() == 2);
  CatalogUpdate tomb;
  tomb.entry.item_id = "c";
  tomb.removed = true;
  const uint64_t before = c.version();
  ApplyOutcome o = c.Apply(ItemId(3), tomb, 0);
  CHECK(o.became_unavailable);
  CHECK(c.version() > before);
  CHECK(c.Entry(ItemId(3)) == nullptr);
  CHECK_FALSE(c.Available(ItemId(3)));
  CHECK(c.ItemsIn(*c.FindCategory("hats")).size() == 1);
  CHECK(c.entries() == 2);
}

TEST_CASE("availability windows open and close as time advances") {
  Catalog c;
  CatalogUpdate u = Entry("a", "shoes");
  u.entry.available_from_ms = 5000;
  u.entry.available_until_ms = 9000;
  c.Apply(ItemId(0), u, 1000);
  CHECK_FALSE(c.Available(ItemId(0)));
  std::vector<ItemId> ended;
  c.Advance(4999, &ended);
  CHECK_FALSE(c.Available(ItemId(0)));
  c.Advance(5000, &ended);
  CHECK(c.Available(ItemId(0)));
  CHECK(ended.empty());
  c.Advance(9000, &ended);
  CHECK_FALSE(c.Available(ItemId(0)));
  REQUIRE(ended.size() == 1);
  CHECK(ended[0] == ItemId(0));
}

TEST_CASE("brand and tags become labels") {
  Catalog c;
  CatalogUpdate u = Entry("a", "shoes");
  u.entry.brand = "acme";
  u.entry.tags = {"sale", "summer"};
  c.Apply(ItemId(4), u, 0);
  REQUIRE(c.LabelsOf(ItemId(4)).size() == 3);
  CHECK(c.LabelsOf(ItemId(4))[0] == *c.FindLabel("brand:acme"));
  CHECK(c.FindLabel("tag:summer").has_value());
  CHECK_FALSE(c.FindLabel("tag:winter").has_value());
  CHECK(c.LabelsOf(ItemId(99)).empty());
}

}  // namespace
}  // namespace streamrec::catalog
