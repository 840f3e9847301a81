#include <catch2/catch.hpp>

#include <string>

#include "learner/learner.h"
#include "pipeline/live_quality.h"

using namespace streamrec;
using namespace streamrec::pipeline;

namespace {

// A learner that knows 50 items and a user who has seen the first of them.
struct Shop {
  Shop() : learner(Options()) {
    for (int i = 0; i < 50; ++i) (void)learner.InternItem("item-" + std::to_string(i));
    learner.InitUser("alice", UserId(1), &alice);
    learner.Observe(&alice, *learner.FindItem("item-0"), EventType::kView, 1000, 1);
  }
  static learner::LearnerOptions Options() {
    learner::LearnerOptions o;
    o.dim = 8;
    return o;
  }
  learner::Learner learner;
  UserRecord alice;
};

}  // namespace

TEST_CASE("live quality tests at most max_per_s sampled events a second") {
  Shop shop;
  LiveQuality quality(&shop.learner, 20, {.sample = 1.0, .max_per_s = 3}, emitter::ScoringPrecision::kFloat32);
  for (uint64_t k = 1; k <= 10; ++k) {
    quality.TestBeforeLearning(shop.alice, "item-" + std::to_string(k), EventType::kView, k, 5000 + k);
  }
  CHECK(quality.figures().scored == 3);
  CHECK(quality.skipped() == 7);
  quality.TestBeforeLearning(shop.alice, "item-11", EventType::kView, 11, 6000);  // the next second
  CHECK(quality.figures().scored == 4);
}

TEST_CASE("live quality without a bound tests every sampled event") {
  Shop shop;
  LiveQuality quality(&shop.learner, 20, {.sample = 1.0, .max_per_s = 0}, emitter::ScoringPrecision::kFloat32);
  for (uint64_t k = 1; k <= 10; ++k) {
    quality.TestBeforeLearning(shop.alice, "item-" + std::to_string(k), EventType::kView, k, 5000);
  }
  CHECK(quality.figures().scored == 10);
  CHECK(quality.skipped() == 0);
  // An item the user has seen is not a test of the list.
  quality.TestBeforeLearning(shop.alice, "item-0", EventType::kView, 12, 5000);
  CHECK(quality.figures().scored == 10);
}
