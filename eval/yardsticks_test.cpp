#include <catch2/catch.hpp>

#include <cmath>
#include <vector>

#include "eval/yardsticks.h"

using namespace streamrec;
using namespace streamrec::eval;

namespace {

// Three items in 2-d: a and b point the same way, c is orthogonal to both.
const std::vector<float> kVectors = {1.0F, 0.0F, 2.0F, 0.0F, 0.0F, 3.0F};
const ItemMatrixView kView{kVectors.data(), nullptr, 3, 2};
const ItemId kA(0), kB(1), kC(2);

uint64_t Count(ItemId id) { return std::vector<uint64_t>{1, 3, 4}[id.value()]; }

}  // namespace

TEST_CASE("yardsticks of hand-made lists are the protocol's figures") {
  YardstickMeter meter;
  Yardsticks y;
  // A hit at rank 1 of [a, c], a user with 2 earlier events, 8 events so far.
  const std::vector<ItemId> first = {kA, kC};
  meter.Measure({first, 1.0, 2, EventType::kView, 8}, Count, kView, &y);
  // A miss with [a, b, c], a user with 12 earlier events, 16 events so far.
  const std::vector<ItemId> second = {kA, kB, kC};
  meter.Measure({second, std::nullopt, 12, EventType::kPurchase, 16}, Count, kView, &y);

  const ListYardsticks& o = y.overall;
  CHECK(o.lists == 2);
  CHECK(o.recall() == Approx(0.5));
  CHECK(o.precision(20) == Approx(0.5 / 20));
  CHECK(o.mrr() == Approx(0.5 * 0.5));                    // 1 / (1 + 1), over 2 lists
  CHECK(o.ndcg() == Approx(0.5 * 1.0 / std::log2(3.0)));  // 1 / log2(1 + 2)
  // Novelty: mean over lists of the mean -log2(count / events so far).
  const double first_novelty = (-std::log2(1.0 / 8) - std::log2(4.0 / 8)) / 2;  // 3 and 1
  const double second_novelty = (-std::log2(1.0 / 16) - std::log2(3.0 / 16) - std::log2(4.0 / 16)) / 3;
  CHECK(o.mean_novelty() == Approx((first_novelty + second_novelty) / 2));
  CHECK(o.mean_popularity() == Approx(((1.0 + 4) / 2 + (1.0 + 3 + 4) / 3) / 2));
  // Diversity: [a, c] orthogonal: 1; [a, b, c]: pairs 1, 0, 0 similar: 1 - 1/3.
  CHECK(o.mean_diversity() == Approx((1.0 + (1.0 - 1.0 / 3)) / 2));

  // Broken down: 2 earlier events is bucket 2-3, 12 is >10; by type.
  CHECK(y.by_history[HistoryBucket(2)].lists == 1);
  CHECK(y.by_history[HistoryBucket(2)].hits == 1);
  CHECK(HistoryBucketName(HistoryBucket(2)) == "2-3");
  CHECK(y.by_history[HistoryBucket(12)].lists == 1);
  CHECK(y.by_history[HistoryBucket(12)].recall() == 0.0);
  CHECK(HistoryBucketName(HistoryBucket(12)) == ">10");
  CHECK(y.by_history[HistoryBucket(1)].lists == 0);
  CHECK(y.by_type[static_cast<size_t>(EventType::kPurchase)].lists == 1);
  CHECK(y.by_type[static_cast<size_t>(EventType::kView)].hits == 1);
}

TEST_CASE("history buckets are 1, 2-3, 4-10, more than 10") {
  CHECK(HistoryBucket(1) == 0);
  CHECK(HistoryBucket(2) == 1);
  CHECK(HistoryBucket(3) == 1);
  CHECK(HistoryBucket(4) == 2);
  CHECK(HistoryBucket(10) == 2);
  CHECK(HistoryBucket(11) == 3);
}

TEST_CASE("a list of one item has no diversity to average, and an empty list costs nothing") {
  YardstickMeter meter;
  Yardsticks y;
  const std::vector<ItemId> one = {kB};
  meter.Measure({one, 0.0, 1, EventType::kView, 4}, Count, kView, &y);
  meter.Measure({{}, std::nullopt, 1, EventType::kView, 4}, Count, kView, &y);
  CHECK(y.overall.lists == 2);
  CHECK(y.overall.diverse_lists == 0);
  CHECK(y.overall.mean_diversity() == 0.0);
  CHECK(y.overall.ndcg() == Approx(0.5));  // rank 0: 1 / log2(2) = 1, over 2 lists
}
