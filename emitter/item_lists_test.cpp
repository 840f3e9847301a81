#include <catch2/catch.hpp>

#include <cmath>

#include "emitter/fake_model_test.h"
#include "emitter/item_lists.h"

using namespace streamrec;
using namespace streamrec::emitter;

namespace {

// Four items in 2-D: 0 and 1 point the same way (1 is longer), 2 is
// orthogonal, 3 opposite. Item 2 co-occurs with 0; 1 and 3 share baskets.
testing::FakeModel MakeModel() {
  testing::FakeModel m({1, 0, 3, 0, 0, 1, -1, 0}, {9, 9, 9, 9});  // biases: ignored by similarity
  m.cooc[0] = {{ItemId(2), 0.5F}};
  m.basket[1] = {{ItemId(3), 0.8F}, {ItemId(0), 0.1F}};
  m.SetRecency({3.0F, 5.0F, -1e30F, 4.0F});
  return m;
}

std::vector<uint32_t> Ids(const std::vector<ScoredItem>& list) {
  std::vector<uint32_t> out;
  for (const ScoredItem& s : list) out.push_back(s.item.value());
  return out;
}

}  // namespace

TEST_CASE("similar items: cosine, not raw length, plus blended co-occurrence; never the item itself") {
  testing::FakeModel model = MakeModel();
  SimilarItemsScorer scorer(3, 2.0F);
  scorer.Prepare(model, nullptr);
  std::vector<std::vector<ScoredItem>> out;
  const ItemId target(0);
  scorer.Score(model, {&target, 1}, {}, &out);
  REQUIRE(out.size() == 1);
  // b: cosine 1; c: cosine 0 + 2 x 0.5 = 1 (tie: smaller id first); d: cosine -1.
  CHECK(Ids(out[0]) == std::vector<uint32_t>{1, 2, 3});
  CHECK(out[0][0].score == Approx(1.0F));
  CHECK(out[0][1].score == Approx(1.0F));

  // Filtered and excluded items are left out.
  scorer.Prepare(model, [](ItemId id) { return id != ItemId(1); });
  const std::vector<ItemId> exclude = {ItemId(3)};
  scorer.Score(model, {&target, 1}, {&exclude, 1}, &out);
  CHECK(Ids(out[0]) == std::vector<uint32_t>{2});
}

TEST_CASE("bought together: strongest basket partners, filtered") {
  testing::FakeModel model = MakeModel();
  std::vector<ScoredItem> out;
  BoughtTogether(model, ItemId(1), 5, nullptr, &out);
  CHECK(Ids(out) == std::vector<uint32_t>{3, 0});
  BoughtTogether(model, ItemId(1), 5, [](ItemId id) { return id != ItemId(3); }, &out);
  CHECK(Ids(out) == std::vector<uint32_t>{0});
  BoughtTogether(model, ItemId(2), 5, nullptr, &out);
  CHECK(out.empty());
}

TEST_CASE("trending: decayed counts in order, per category, items without events left out") {
  testing::FakeModel model = MakeModel();
  catalog::Catalog cat;
  auto entry = [](std::string id, std::string category) {
    CatalogUpdate u;
    u.entry.item_id = std::move(id);
    u.entry.category = std::move(category);
    return u;
  };
  cat.Apply(ItemId(0), entry("a", "x"), 0);
  cat.Apply(ItemId(1), entry("b", "y"), 0);
  cat.Apply(ItemId(3), entry("d", "x"), 0);
  TrendingLists lists(10);
  lists.Build(model, &cat, nullptr);
  CHECK(Ids(lists.global()) == std::vector<uint32_t>{1, 3, 0});
  CHECK(lists.global()[0].score == Approx(1.0F));
  CHECK(lists.global()[1].score == Approx(0.5F));  // one half-life behind the top
  const std::span<const ScoredItem> x = lists.category(*cat.FindCategory("x"));
  REQUIRE(x.size() == 2);
  CHECK(x[0].item == ItemId(3));

  std::vector<ScoredItem> merged;
  const std::span<const ScoredItem> sources[] = {x, lists.global()};
  const std::vector<ItemId> seen = {ItemId(3)};
  MergeTrending(sources, seen, 2, &merged);
  CHECK(Ids(merged) == std::vector<uint32_t>{0, 1});
}
