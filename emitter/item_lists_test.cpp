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

TEST_CASE("similar items in bfloat16: the float32 lists, and items added after Prepare are candidates") {
  // 200 items around the unit circle (lengths vary: cosine ignores them).
  auto circle = [](size_t n) {
    std::vector<float> e;
    for (size_t i = 0; i < n; ++i) {
      // A small uneven twist: no two items are exactly as far from a third
      // (mirror ties would make the order of equal scores the test's subject).
      const double angle = 2 * M_PI * static_cast<double>(i) / 200.0 + 1e-4 * static_cast<double>(i * i % 97);
      const double length = 1.0 + static_cast<double>(i % 7);
      e.push_back(static_cast<float>(length * std::cos(angle)));
      e.push_back(static_cast<float>(length * std::sin(angle)));
    }
    return e;
  };
  testing::FakeModel model(circle(200), std::vector<float>(200, 0.0F));
  SimilarItemsScorer exact(10, 0.0F, ScoringPrecision::kFloat32);
  SimilarItemsScorer bf16(10, 0.0F, ScoringPrecision::kBFloat16);
  exact.Prepare(model, nullptr);
  bf16.Prepare(model, nullptr);
  std::vector<ItemId> targets;
  for (uint32_t t = 0; t < 200; t += 23) targets.push_back(ItemId(t));
  std::vector<std::vector<ScoredItem>> want;
  std::vector<std::vector<ScoredItem>> got;
  exact.Score(model, targets, {}, &want);
  bf16.Score(model, targets, {}, &got);
  REQUIRE(got.size() == want.size());
  for (size_t k = 0; k < want.size(); ++k) {
    CHECK(Ids(got[k]) == Ids(want[k]));
    // Re-scored in float32: equal to the float32 pass up to its summation
    // order (the product and the re-score may round differently, e.g. -O2
    // against -O3), far closer than a bfloat16 score (~1e-3) would be.
    CHECK(got[k][0].score == Approx(want[k][0].score).epsilon(1e-6));
  }
  // Item 200 points exactly as item 23 does: without a new Prepare it is the
  // nearest in bfloat16 too.
  std::vector<float> grown = circle(200);
  grown.push_back(grown[2 * 23] * 3);
  grown.push_back(grown[2 * 23 + 1] * 3);
  testing::FakeModel bigger(grown, std::vector<float>(201, 0.0F));
  const ItemId target(23);
  bf16.Score(bigger, {&target, 1}, {}, &got);
  REQUIRE_FALSE(got[0].empty());
  CHECK(got[0][0].item == ItemId(200));
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
