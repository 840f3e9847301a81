#include <catch2/catch.hpp>

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "emitter/emitter.h"
#include "emitter/item_adjustments.h"

using namespace streamrec;
using namespace streamrec::emitter;

TEST_CASE("list messages have the documented shape") {
  std::vector<RenderedItem> items = {{"i\"1", 0.5F, Reason::kPersonal, {}},
                                     {"i2", -1.25F, Reason::kSimilarTo, "i9"},
                                     {"i3", 2.0F, Reason::kPinned, {}}};
  std::string json = RenderList("u1", items, 3, "mf-sgd-1", 1700000000000, 2, 41);
  CHECK(json ==
        R"({"user_id":"u1","items":[{"item_id":"i\"1","score":0.5,"reason":"personal"},)"
        R"({"item_id":"i2","score":-1.25,"reason":"similar_to:i9"},{"item_id":"i3","score":2,"reason":"pinned"}],)"
        R"("seq":3,"model_version":"mf-sgd-1","generated_at":1700000000000,"source":{"partition":2,"offset":41}})");
  CHECK(RenderList("u", {}, 1, "m", 0, 0, 0).find(R"("items":[])") != std::string::npos);
}

TEST_CASE("scores are written as %.6g writes them") {
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> mantissa(-10.0F, 10.0F);
  std::uniform_int_distribution<int> exponent(-12, 12);
  std::vector<float> scores = {0.0F, -0.0F, 1.0F, -2.0F, 0.5F, 1e6F, 999999.5F, 1e-5F, 123456.7F, 0.0001F};
  for (int i = 0; i < 100000; ++i) scores.push_back(std::ldexp(mantissa(rng), exponent(rng) * 3));
  for (float score : scores) {
    std::string out;
    AppendScore(score, &out);
    REQUIRE(out == fmt::format("{:.6g}", score));
  }
}

TEST_CASE("reasons have their documented names") {
  CHECK(ReasonText(Reason::kTrending, "") == "trending");
  CHECK(ReasonText(Reason::kNew, "") == "new");
  CHECK(ReasonText(Reason::kBoosted, "") == "boosted");
}

TEST_CASE("emitter options and rules are validated") {
  EmitterOptions o;
  CHECK(o.Validate().ok());
  o.top_n = 0;
  CHECK_FALSE(o.Validate().ok());
  o.top_n = 10;
  o.rules.pins["sku"] = 11;
  CHECK_FALSE(o.Validate().ok());
  o.rules.pins["sku"] = 10;
  CHECK(o.Validate().ok());
  o.rules.boost["colour:red"] = 1.0F;
  CHECK_FALSE(o.Validate().ok());
  o.rules.boost.clear();
  o.rules.boost["brand:acme"] = -INFINITY;  // hides
  CHECK(o.Validate().ok());
  o.rules.exploration_slot = 11;  // past the list's end: its last slot
  CHECK(o.Validate().ok());
  o.rules.new_item_max_age_s = -1;
  CHECK_FALSE(o.Validate().ok());
}

TEST_CASE("item adjustments hide unavailable items and add label weights") {
  catalog::Catalog cat;
  auto entry = [](std::string id, std::string category, std::string brand, bool in_stock) {
    CatalogUpdate u;
    u.entry.item_id = std::move(id);
    u.entry.category = std::move(category);
    u.entry.brand = std::move(brand);
    u.entry.in_stock = in_stock;
    return u;
  };
  cat.Apply(ItemId(0), entry("a", "shoes", "acme", true), 0);
  cat.Apply(ItemId(1), entry("b", "shoes", "other", false), 0);
  cat.Apply(ItemId(2), entry("c", "hats", "acme", true), 0);
  ListRules rules;
  rules.boost["category:shoes"] = 0.5F;
  rules.boost["brand:acme"] = -2.0F;
  rules.boost["tag:none-has-it"] = 9.0F;
  ItemAdjustments adj;
  adj.Update(&cat, rules, 1, 4);
  REQUIRE(adj.active());
  const float terms[4] = {1.0F, 1.0F, 1.0F, 1.0F};
  const float* out = adj.Apply(terms, 4, 1.0F);
  CHECK(out[0] == Approx(1.0F + 0.5F - 2.0F));
  CHECK(std::isinf(out[1]));
  CHECK(out[2] == Approx(-1.0F));
  CHECK(out[3] == 1.0F);  // no catalog entry: untouched
  CHECK_FALSE(adj.Allowed(ItemId(1)));
  CHECK(adj.Allowed(ItemId(3)));
  CHECK_FALSE(adj.Boosted(ItemId(0)));
  // Terms in list-score units worth a quarter of a blend unit: the boosts,
  // in blend units, count four times.
  out = adj.Apply(terms, 4, 0.25F);
  CHECK(out[0] == Approx(1.0F + 4.0F * (0.5F - 2.0F)));
  CHECK(std::isinf(out[1]));

  // A catalog change is seen on the next Update.
  cat.Apply(ItemId(1), entry("b", "shoes", "other", true), 0);
  adj.Update(&cat, rules, 1, 4);
  CHECK(adj.Apply(terms, 4, 1.0F)[1] == Approx(1.5F));
  CHECK(adj.Boosted(ItemId(1)));
}
