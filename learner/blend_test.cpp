#include <catch2/catch.hpp>

#include <array>
#include <cmath>
#include <string>
#include <vector>

#include "learner/blend.h"
#include "learner/item_table.h"
#include "learner/learner.h"

using namespace streamrec;
using namespace streamrec::learner;

TEST_CASE("blend: outcomes won by recency near the cut move weight to recency") {
  OnlineBlend blend(BlendOptions{.cooc_weight = 20.0F, .recency_weight = 0.0F, .learning_rate = 0.1F});
  // The chosen item is more recent than the list's last item and co-occurs
  // less: a near miss that recency would have turned into a hit.
  const BlendFeatures chosen{.mf = 1.0F, .cooc = 0.00F, .recency = -1.0F};
  const BlendFeatures cutoff{.mf = 1.0F, .cooc = 0.01F, .recency = -6.0F};
  for (int k = 0; k < 200; ++k) blend.Learn(chosen, cutoff);
  CHECK(blend.recency_weight() > 0.1F);
  CHECK(blend.cooc_weight() < 20.0F);
  CHECK(blend.Score(chosen) > blend.Score(cutoff));  // now a hit
}

TEST_CASE("blend: outcomes won by co-occurrence keep recency at zero") {
  OnlineBlend blend(BlendOptions{.cooc_weight = 20.0F, .recency_weight = 0.0F, .learning_rate = 0.1F});
  const BlendFeatures chosen{.mf = 0.0F, .cooc = 0.05F, .recency = -8.0F};
  const BlendFeatures cutoff{.mf = 1.5F, .cooc = 0.02F, .recency = -2.0F};
  for (int k = 0; k < 200; ++k) blend.Learn(chosen, cutoff);
  CHECK(blend.recency_weight() == 0.0F);  // never negative
  CHECK(blend.cooc_weight() > 20.0F);
}

TEST_CASE("blend: outcomes the factorisation ranks wrong move weight away from it") {
  OnlineBlend blend(BlendOptions{.cooc_weight = 20.0F, .recency_weight = 1.0F, .learning_rate = 0.1F});
  // The chosen item wins on recency and loses, narrowly, on the factorisation alone.
  const BlendFeatures chosen{.mf = 0.0F, .cooc = 0.0F, .recency = -2.0F};
  const BlendFeatures cutoff{.mf = 1.2F, .cooc = 0.0F, .recency = -3.0F};
  REQUIRE(blend.Score(chosen) < blend.Score(cutoff));
  for (int k = 0; k < 200; ++k) blend.Learn(chosen, cutoff);
  CHECK(blend.mf_weight() < 0.9F);
  CHECK(blend.recency_weight() > 1.0F / 0.9F);  // relative to the factorisation's weight
  CHECK(blend.Score(chosen) > blend.Score(cutoff));
  // Lists rank by mf + relative weights: the same order as the blend's score.
  const auto served = [&](const BlendFeatures& f) {
    return f.mf + blend.cooc_weight() * f.cooc + blend.recency_weight() * f.recency;
  };
  CHECK(served(chosen) > served(cutoff));
}

TEST_CASE("blend: outcomes won by today's demand move weight to the short recency") {
  OnlineBlend blend(BlendOptions{.cooc_weight = 20.0F, .recency_weight = 0.0F, .learning_rate = 0.1F});
  // This week's counts tie; the chosen item is the one bought today.
  const BlendFeatures chosen{.mf = 0.5F, .cooc = 0.0F, .recency = -1.0F, .short_recency = -0.5F};
  const BlendFeatures cutoff{.mf = 0.6F, .cooc = 0.0F, .recency = -1.0F, .short_recency = -6.0F};
  for (int k = 0; k < 200; ++k) blend.Learn(chosen, cutoff);
  CHECK(blend.short_recency_weight() > 0.05F);
  CHECK(blend.recency_weight() == 0.0F);
  CHECK(blend.Score(chosen) > blend.Score(cutoff));
  OnlineBlend restored(BlendOptions{});
  restored.Restore(blend.Save());
  CHECK(restored.short_recency_weight() == blend.short_recency_weight());
}

TEST_CASE("blend: outcomes the factorisation ranks right keep its weight") {
  OnlineBlend blend(BlendOptions{.cooc_weight = 20.0F, .recency_weight = 0.0F, .learning_rate = 0.1F});
  const BlendFeatures chosen{.mf = 1.0F, .cooc = 0.0F, .recency = -4.0F};
  const BlendFeatures cutoff{.mf = 0.8F, .cooc = 0.0F, .recency = -1.0F};
  for (int k = 0; k < 200; ++k) blend.Learn(chosen, cutoff);
  CHECK(blend.mf_weight() > 1.0F);
  CHECK(blend.recency_weight() == 0.0F);
}

TEST_CASE("blend: outcomes far from the cut hardly move the weights") {
  const BlendFeatures cutoff{.mf = 0.0F, .cooc = 0.0F, .recency = -6.0F};
  const BlendFeatures near{.mf = 0.0F, .cooc = 0.0F, .recency = -5.0F};  // the factorisation ties: only recency moves
  const BlendFeatures far{.mf = -12.0F, .cooc = 0.0F, .recency = -5.0F};  // no plausible weight lists it
  OnlineBlend a(BlendOptions{.cooc_weight = 20.0F, .recency_weight = 0.0F, .learning_rate = 0.1F});
  for (int k = 0; k < 20; ++k) a.Learn(near, cutoff);
  OnlineBlend b(BlendOptions{});
  b.Restore(a.Save());
  const float before = a.recency_weight();
  a.Learn(near, cutoff);
  b.Learn(far, cutoff);
  CHECK(a.recency_weight() - before > 0.001F);
  CHECK(b.recency_weight() - before < 0.01F * (a.recency_weight() - before));
}

TEST_CASE("blend: another instance's steps, applied as their sums, move the weights as learning them did") {
  const BlendOptions options{.cooc_weight = 20.0F, .recency_weight = 0.0F, .session_weight = 100.0F, .learning_rate = 0.1F};
  OnlineBlend learned(options);
  OnlineBlend applied(options);
  OnlineBlend still(BlendOptions{.cooc_weight = 20.0F, .learning_rate = 0.0F});
  // Near misses recency would turn, and some the factorisation ranks wrong, in windows of 10.
  for (int window = 0; window < 20; ++window) {
    BlendSteps steps;
    for (int k = 0; k < 10; ++k) {
      const float f = static_cast<float>((window * 10 + k) % 7);
      learned.Learn({.mf = 0.1F * f, .cooc = 0.001F, .recency = -1.0F, .session = 0.002F},
                    {.mf = 0.5F, .cooc = 0.002F, .recency = -4.0F, .session = 0.001F}, &steps);
    }
    CHECK(steps.steps == 10);
    applied.ApplySteps(steps);
    still.ApplySteps(steps);
  }
  CHECK(applied.steps() == learned.steps());
  // Each weight (absolute: the others are relative to the factorisation's)
  // moved from its start as learning the outcomes one by one moved it, up to
  // float sums.
  const auto absolute = [](const OnlineBlend& b) {
    return std::array<float, 4>{b.cooc_weight() * b.mf_weight(), b.recency_weight() * b.mf_weight(), b.mf_weight(),
                                b.session_weight() * b.mf_weight()};
  };
  const std::array<float, 4> start = {20.0F, 0.0F, 1.0F, 100.0F};
  const std::array<float, 4> want = absolute(learned);
  const std::array<float, 4> got = absolute(applied);
  for (size_t i = 0; i < start.size(); ++i) {
    INFO("weight " << i << ": learned " << want[i] << ", applied " << got[i]);
    CHECK(std::abs(want[i] - start[i]) > 0.5F);  // the outcomes moved it
    CHECK(std::abs(got[i] - want[i]) < 1e-4F * std::abs(want[i] - start[i]));
  }
  CHECK(still.cooc_weight() == 20.0F);  // a blend that does not learn applies nothing
  CHECK(still.recency_weight() == 0.0F);
}

TEST_CASE("blend: saved state restores the same weights and steps") {
  OnlineBlend a(BlendOptions{});
  for (int k = 0; k < 10; ++k) a.Learn({.mf = 0.0F, .cooc = 0.0F, .recency = -1.0F}, {.mf = 0.2F, .cooc = 0.0F, .recency = -3.0F});
  OnlineBlend b(BlendOptions{});
  b.Restore(a.Save());
  CHECK(b.cooc_weight() == a.cooc_weight());
  CHECK(b.recency_weight() == a.recency_weight());
  CHECK(b.mf_weight() == a.mf_weight());
  const BlendFeatures pos{.mf = 0.1F, .cooc = 0.02F, .recency = -0.5F};
  const BlendFeatures cut{.mf = 0.3F, .cooc = 0.01F, .recency = -2.0F};
  a.Learn(pos, cut);
  b.Learn(pos, cut);
  CHECK(b.recency_weight() == a.recency_weight());
  CHECK(b.cooc_weight() == a.cooc_weight());
}

TEST_CASE("item table: the served term adds each recency weight times the item's log2 decayed count") {
  ItemTable t(2);
  const std::vector<float> e{0.0F, 0.0F};
  const ItemId fresh = t.Add("fresh", e, 0.5F, 0);
  const ItemId stale = t.Add("stale", e, 0.5F, 0);
  const ItemId never = t.Add("never", e, 0.5F, 0);
  constexpr int64_t kHalfLife = 1000 * 1000;
  constexpr int64_t kShort = kHalfLife / 4;
  t.IncrementCount(stale);
  t.AddRecency(stale, 0, kHalfLife, kShort);
  t.IncrementCount(fresh);
  t.AddRecency(fresh, 4 * kHalfLife, kHalfLife, kShort);
  CHECK(t.View().listed_biases[fresh.value()] == 0.5F);  // weights 0: the bias alone
  t.SetRecencyTerm(0.25F, 4.0, 0.0F, 16.0);
  CHECK(t.View().listed_biases[fresh.value()] == Approx(0.5F));              // 0 half-lives old
  CHECK(t.View().listed_biases[stale.value()] == Approx(0.5F - 0.25F * 4));  // 4 half-lives old
  CHECK(t.View().listed_biases[never.value()] == Approx(0.5F - 0.25F * ItemTable::kRecencyFloor));
  CHECK(t.LatestRecency() == Approx(4.0));
  CHECK(t.LatestShortRecency() == Approx(16.0));
  SECTION("the short half-life's term: 16 of its half-lives old") {
    t.SetRecencyTerm(0.0F, 4.0, 0.5F, 16.0);
    CHECK(t.View().listed_biases[fresh.value()] == Approx(0.5F));
    CHECK(t.View().listed_biases[stale.value()] == Approx(0.5F - 0.5F * 16));
    t.SetRecencyTerm(0.25F, 4.0, 0.5F, 16.0);
    CHECK(t.View().listed_biases[stale.value()] == Approx(0.5F - 0.25F * 4 - 0.5F * 16));
  }
  // A new event moves the item's term at once.
  t.IncrementCount(stale);
  t.AddRecency(stale, 4 * kHalfLife, kHalfLife, kShort);
  CHECK(t.View().listed_biases[stale.value()] > t.View().listed_biases[fresh.value()]);
}

namespace {

// A drifting shop: every period a new set of items is what everyone buys.
// Each buyer's list (as the emitter would record it) ends in an item that
// was popular long ago; the item bought is one of this period's.
void BuyDrifting(Learner* learner, int periods) {
  constexpr int64_t kDay = 24LL * 3600 * 1000;
  uint64_t key = 0;
  std::vector<UserRecord> users(40);
  for (size_t u = 0; u < users.size(); ++u) learner->InitUser("u" + std::to_string(u), UserId(static_cast<uint32_t>(u)), &users[u]);
  for (int p = 0; p < periods; ++p) {
    for (size_t u = 0; u < users.size(); ++u) {
      const std::string item = "p" + std::to_string(p) + "i" + std::to_string(u % 4);
      const ItemId id = *learner->InternItem(item);
      if (p >= 10) users[u].list_reference = *learner->FindItem("p" + std::to_string(p - 10) + "i" + std::to_string(u % 4));
      learner->Observe(&users[u], id, EventType::kPurchase, p * 7 * kDay + static_cast<int64_t>(u) * 1000, ++key);
    }
  }
}

}  // namespace

TEST_CASE("learner: on a drifting log the blend learns a recency weight, and lists rank recent items higher") {
  Learner learner(LearnerOptions{});
  BuyDrifting(&learner, 60);
  const Learner::BlendWeights w = learner.blend_weights();
  CHECK(w.steps > 1000);
  CHECK(w.recency > 0.05F);
  // The served term of this period's item beats an old one's by the recency weight's doing.
  const ItemMatrixView view = learner.Items();
  const ItemId recent = *learner.FindItem("p59i0");
  const ItemId old = *learner.FindItem("p40i0");
  CHECK(view.listed_biases[recent.value()] > view.listed_biases[old.value()]);

  SECTION("the blend's state restores into a new learner") {
    Learner other(LearnerOptions{});
    other.RestoreBlend(learner.SaveBlend());
    CHECK(other.blend_weights().recency == w.recency);
    CHECK(other.blend_weights().cooc == w.cooc);
  }
  SECTION("a prefix saved by an older streamrec restores its part, the rest as configured") {
    const Learner::BlendState saved = learner.SaveBlend();
    Learner four(LearnerOptions{});
    REQUIRE(four.RestoreBlend(std::span<const float>(saved.data(), 4)).ok());
    CHECK(four.blend_weights().recency == saved[1]);  // relative to a factorisation weight of 1
    CHECK(four.blend_weights().cooc == saved[0]);
    CHECK(four.blend_weights().mf == 1.0F);
    CHECK(four.blend_weights().short_recency == 0.0F);
    Learner six(LearnerOptions{});
    REQUIRE(six.RestoreBlend(std::span<const float>(saved.data(), 6)).ok());
    CHECK(six.blend_weights().mf == w.mf);
    CHECK(six.blend_weights().recency == w.recency);
    CHECK(six.blend_weights().short_recency == 0.0F);
    Learner eight(LearnerOptions{});
    REQUIRE(eight.RestoreBlend(std::span<const float>(saved.data(), 8)).ok());
    CHECK(eight.blend_weights().short_recency == w.short_recency);
    CHECK(eight.blend_weights().session == LearnerOptions{}.session_weight / w.mf);  // as configured
    Learner bad(LearnerOptions{});
    CHECK(bad.RestoreBlend(std::span<const float>(saved.data(), 3)).code() == StatusCode::kInvalidArgument);
    const std::vector<float> eleven(11, 1.0F);
    CHECK(bad.RestoreBlend(std::span<const float>(eleven)).code() == StatusCode::kInvalidArgument);
    CHECK(bad.blend_weights().cooc == LearnerOptions{}.cooc_weight);  // nothing restored
  }
  SECTION("blend_learning_rate 0 keeps the configured weights") {
    LearnerOptions fixed;
    fixed.blend_learning_rate = 0.0F;
    Learner still(fixed);
    BuyDrifting(&still, 20);
    CHECK(still.blend_weights().recency == 0.0F);
    CHECK(still.blend_weights().cooc == fixed.cooc_weight);
  }
}
