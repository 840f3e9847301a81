#include <cmath>
#include <random>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "experiment/experiment.h"
#include "experiment/report.h"
#include "experiment/statistics.h"

namespace streamrec::experiment {
namespace {

ExperimentOptions TwoVariants(std::string name, double share_a = 0.5) {
  ExperimentOptions e;
  e.name = std::move(name);
  e.variants = {{"A", share_a}, {"B", 1.0 - share_a}};
  return e;
}

std::vector<ItemId> Items(std::initializer_list<uint32_t> ids) {
  std::vector<ItemId> out;
  for (uint32_t id : ids) out.emplace_back(id);
  return out;
}

}  // namespace

TEST_CASE("experiment options are checked", "[experiment]") {
  ExperimentOptions e;
  CHECK(e.Validate(20).ok());  // none configured
  e.name = "x";
  CHECK_FALSE(e.Validate(20).ok());  // no variants
  e = TwoVariants("x");
  CHECK(e.Validate(20).ok());
  e.variants[1].share = 0.4;
  CHECK_FALSE(e.Validate(20).ok());  // shares sum to 0.9
  e = TwoVariants("x");
  e.variants[1].model = "random";
  CHECK_FALSE(e.Validate(20).ok());
  e = TwoVariants("x");
  e.variants[1].list_length = 21;
  CHECK_FALSE(e.Validate(20).ok());
  e = TwoVariants("x");
  e.variants[1].name = "A";
  CHECK_FALSE(e.Validate(20).ok());
  e = TwoVariants("x");
  e.variants[1].model = "trending";
  e.variants[1].exploration_slot = 0;
  CHECK(e.Validate(20).ok());
  CHECK(e.variants[1].Model() == ListModel::kTrending);
}

TEST_CASE("variants are assigned by share, stably, independently between experiments", "[experiment]") {
  const ExperimentOptions first = TwoVariants("first", 0.2);
  const ExperimentOptions second = TwoVariants("second", 0.5);
  constexpr int kUsers = 100000;
  int in_a = 0;
  int agree = 0;  // A in both
  for (int u = 0; u < kUsers; ++u) {
    const std::string id = "user-" + std::to_string(u);
    const uint16_t v = HashedVariant(first, id);
    REQUIRE(v == HashedVariant(first, id));
    in_a += v == 0;
    agree += v == 0 && HashedVariant(second, id) == 0;
  }
  CHECK(std::abs(in_a / double(kUsers) - 0.2) < 0.005);
  // Independent: P(A in both) = 0.2 x 0.5.
  CHECK(std::abs(agree / double(kUsers) - 0.1) < 0.005);
  // A user keeps the variant of their first list in the experiment.
  UserRecord user;
  user.experiment.Ensure().counts = {first.Tag(), 1};
  CHECK(VariantOf(first, "anyone", user) == 1);
  CHECK(VariantOf(ExperimentOptions{}, "anyone", user) == kNoVariant);
}

TEST_CASE("attribution: each outcome once per listed item, its funnel followed, inside the window", "[experiment]") {
  ExperimentOptions e = TwoVariants("exact");
  e.attribution_window_s = 60;
  Ledger ledger;
  ledger.Reset(e);
  UserRecord user;
  const auto view = [](uint32_t item, int64_t ts) { return Interaction{ItemId(item), EventType::kView, ts}; };
  ledger.Observe(view(50, 1000), &user);  // the event the first list answers: not in a list yet
  const std::vector<ListReason> reasons = {ListReason::kPersonal, ListReason::kSimilarTo, ListReason::kTrending};
  ledger.Served(1, Items({10, 11, 12}), reasons, 999999, 1000, &user);
  CHECK(user.experiment->served.at_ms == 1000);  // the user's latest event, not the wall clock
  ledger.Observe(view(11, 900), &user);    // older than the list: not caused by it
  ledger.Observe(view(11, 2000), &user);   // a click on a similar_to item
  ledger.Observe(view(11, 2500), &user);   // the same item again: once
  ledger.Observe(view(12, 3000), &user);   // another item of the list: counts
  ledger.Observe({ItemId(99), EventType::kCart, 3000}, &user);  // not listed
  ledger.Observe({std::nullopt, EventType::kView, 3100}, &user);  // an item the learner refused
  // The click refreshed the list, which leaves item 11 out; its add-to-cart and
  // purchase still count for the list it was clicked in.
  ledger.Served(1, Items({13, 14}), std::vector<ListReason>(2, ListReason::kPersonal), 999999, 2000, &user);
  CHECK(user.experiment->served.at_ms == 3100);
  ledger.Observe({ItemId(11), EventType::kCart, 4000}, &user);
  ledger.Observe({ItemId(11), EventType::kPurchase, 5000, 2, 5.0}, &user);  // 2 x 5.0
  ledger.Observe({ItemId(11), EventType::kPurchase, 5500, 1, 5.0}, &user);  // bought once more: revenue, not a new purchase
  ledger.Observe({ItemId(12), EventType::kPurchase, 62000, 1, 7.0}, &user);  // 61 s after its list: outside
  // A storefront that echoes the list it showed: an older list's seq does not count for this one.
  Interaction echoed = view(13, 3150);
  echoed.list_seq = 1000;
  ledger.Observe(echoed, &user);
  Interaction from_this_list = view(14, 3200);  // the new list's item, echoing its seq: counts
  from_this_list.list_seq = 2000;
  ledger.Observe(from_this_list, &user);
  CHECK(user.experiment->counts.experiment == e.Tag());
  CHECK(user.experiment->counts.variant == 1);
  CHECK(user.experiment->counts.lists == 2);
  CHECK(user.experiment->counts.clicked == 3);
  CHECK(user.experiment->counts.carted == 1);
  CHECK(user.experiment->counts.bought == 1);
  CHECK(user.experiment->counts.units == 3);
  CHECK(user.experiment->counts.revenue == 15.0);
  const VariantTally& b = ledger.tallies()[1];
  CHECK(b.users == 1);
  CHECK(b.lists == 2);
  CHECK(b.clicked == 3);
  CHECK(b.revenue == 15.0);
  CHECK(b.items_covered == 5);  // 10, 11, 12, 13, 14
  CHECK(b.reasons[size_t(ListReason::kPersonal)].shown == 3);
  CHECK(b.reasons[size_t(ListReason::kPersonal)].clicked == 1);
  CHECK(b.reasons[size_t(ListReason::kSimilarTo)].clicked == 1);
  CHECK(b.reasons[size_t(ListReason::kSimilarTo)].carted == 1);
  CHECK(b.reasons[size_t(ListReason::kSimilarTo)].bought == 1);
  CHECK(b.reasons[size_t(ListReason::kTrending)].clicked == 1);
  CHECK(ledger.tallies()[0].lists == 0);
  // Another experiment: the user's counts start again, their old list attributes nothing.
  ledger.Reset(TwoVariants("next"));
  ledger.Observe(view(14, 3300), &user);
  CHECK(user.experiment->counts.clicked == 3);
  ledger.Served(0, Items({1}), std::vector<ListReason>(1, ListReason::kPersonal), 80000, 3000, &user);
  CHECK(user.experiment->counts.lists == 1);
  CHECK(user.experiment->counts.clicked == 0);
  CHECK(user.experiment->served.credited.empty());
}

TEST_CASE("distribution functions match tables", "[experiment][statistics]") {
  CHECK(NormalCdf(1.959964) == Approx(0.975).margin(1e-6));
  CHECK(NormalCdf(0) == Approx(0.5));
  CHECK(StudentTCdf(2.228139, 10) == Approx(0.975).margin(1e-5));
  CHECK(StudentTCdf(-2.085963, 20) == Approx(0.025).margin(1e-5));
  CHECK(ChiSquareSurvival(3.841459, 1) == Approx(0.05).margin(1e-6));
  CHECK(ChiSquareSurvival(5.991465, 2) == Approx(0.05).margin(1e-6));
  CHECK(ChiSquareSurvival(30.577914, 15) == Approx(0.01).margin(1e-6));
}

TEST_CASE("Welch's test and the sample-ratio check on known samples", "[experiment][statistics]") {
  // Revenue per user: control {1,2,3,4,5}, treatment {2,4,6,8,10,12}.
  VariantSums control;
  VariantSums treatment;
  for (double r : {1, 2, 3, 4, 5}) control.Add({1, 0, 1, 0, 0, 0, 0, r});
  for (double r : {2, 4, 6, 8, 10, 12}) treatment.Add({1, 1, 1, 0, 0, 0, 0, r});
  const Comparison c = CompareMean(control, treatment, kRevenue);
  CHECK(c.control == Approx(3.0));
  CHECK(c.treatment == Approx(7.0));
  // By hand: variances 2.5 and 14, se = sqrt(2.5/5 + 14/6) = 1.6833, t = 2.3763,
  // Welch df = 6.97; a t table gives t(0.975, 7) = 2.3646, so p is just under 0.05.
  CHECK(c.p_value == Approx(0.0493).margin(5e-4));
  CHECK(c.ci_low > 0.0);
  CHECK(c.ci_high < 8.0);
  const std::vector<double> shares = {0.5, 0.5};
  CHECK(SampleRatioMismatchP(std::vector<double>{5000, 5000}, shares) == Approx(1.0));
  CHECK(SampleRatioMismatchP(std::vector<double>{5000, 5300}, shares) < 0.01);
  CHECK(SampleRatioMismatchP(std::vector<double>{2000, 8000}, std::vector<double>{0.2, 0.8}) == Approx(1.0));
}

namespace {

// Generated traffic through the Ledger: every user is served 1..9 lists of
// 20 items, clicks a list's item with their own probability (lognormal around
// 5 %, so users differ as real ones do) and buys after a click one time in
// five. In variant B, `segment` of the users (their taste matched) click
// (1 + uplift) times as often: the planted CTR lift is segment x uplift.
std::vector<VariantSums> Simulate(uint64_t seed, const ExperimentOptions& e, double segment, double uplift,
                                  int users) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> uniform(0.0, 1.0);
  std::normal_distribution<double> spread(0.0, 0.5);
  Ledger ledger;
  ledger.Reset(e);
  std::vector<VariantSums> sums(e.variants.size());
  std::vector<ItemId> list;
  for (uint32_t k = 0; k < 20; ++k) list.emplace_back(k);
  const std::vector<ListReason> reasons(20, ListReason::kPersonal);
  for (int u = 0; u < users; ++u) {
    const std::string id = "s" + std::to_string(seed) + "-u" + std::to_string(u);
    UserRecord user;
    const uint16_t variant = VariantOf(e, id, user);
    double p = std::min(0.9, 0.05 * std::exp(spread(rng)));
    if (variant == 1 && uniform(rng) < segment) p = std::min(0.95, p * (1.0 + uplift));
    const int lists = 1 + static_cast<int>(uniform(rng) * 9);
    int64_t t = 0;
    for (int l = 0; l < lists; ++l, t += 60000) {
      ledger.Served(variant, list, reasons, t, static_cast<uint64_t>(l), &user);
      if (uniform(rng) >= p) continue;
      const ItemId item(static_cast<uint32_t>(uniform(rng) * 20));
      ledger.Observe({item, EventType::kView, t + 5000}, &user);
      if (uniform(rng) < 0.2) ledger.Observe({item, EventType::kPurchase, t + 9000, 1, 20.0}, &user);
    }
    sums[variant].Add(user.experiment->counts);
  }
  return sums;
}

}  // namespace

TEST_CASE("A/A: identical variants differ significantly in at most 2 of 20 seeds", "[experiment][statistics]") {
  int flagged_ctr = 0;
  int flagged_revenue = 0;
  int mismatched = 0;
  for (uint64_t seed = 1; seed <= 20; ++seed) {
    const ExperimentOptions e = TwoVariants("aa-" + std::to_string(seed));
    const std::vector<VariantSums> sums = Simulate(seed, e, 0.0, 0.0, 20000);
    flagged_ctr += CompareRatio(sums[0], sums[1], kClicked, kLists).p_value < 0.05;
    flagged_revenue += CompareMean(sums[0], sums[1], kRevenue).p_value < 0.05;
    mismatched += SampleRatioMismatchP(std::vector<double>{sums[0].users, sums[1].users},
                                       std::vector<double>{0.5, 0.5}) < 0.05;
  }
  INFO("CTR flagged " << flagged_ctr << ", revenue " << flagged_revenue << ", sample ratio " << mismatched);
  CHECK(flagged_ctr <= 2);
  CHECK(flagged_revenue <= 2);
  CHECK(mismatched <= 2);
}

TEST_CASE("A/B: a planted CTR lift is found, and measured within 20 % of itself", "[experiment][statistics]") {
  const ExperimentOptions e = TwoVariants("ab");
  constexpr double kSegment = 0.5;
  constexpr double kUplift = 0.4;  // planted lift: 0.5 x 0.4 = 20 %
  const std::vector<VariantSums> sums = Simulate(7, e, kSegment, kUplift, 100000);
  const Comparison ctr = CompareRatio(sums[0], sums[1], kClicked, kLists);
  INFO("CTR " << ctr.control << " -> " << ctr.treatment << ", lift " << ctr.relative << ", p " << ctr.p_value);
  CHECK(ctr.p_value < 0.01);
  CHECK(std::abs(ctr.relative - kSegment * kUplift) <= 0.2 * kSegment * kUplift);
  CHECK(ctr.ci_low > 0.0);
  CHECK(ctr.users_needed < 100000);
  // Purchases follow clicks: the conversion rate rises too.
  CHECK(CompareRatio(sums[0], sums[1], kBought, kLists).relative > 0.1);
}

}  // namespace streamrec::experiment

namespace streamrec::experiment {

TEST_CASE("the report compares each variant with the control and says when the split is broken", "[experiment]") {
  ExperimentOptions e;
  e.name = "report";
  e.variants = {{"control", 0.5}, {"better", 0.5}};
  std::vector<VariantSums> sums(2);
  for (int u = 0; u < 4000; ++u) {
    // Control: 4 lists, a click on 1 in 4 users' lists; better: on 1 in 2.
    sums[0].Add({1, 0, 4, static_cast<uint32_t>(u % 4 == 0), 0, 0, 0, 0.0});
    sums[1].Add({1, 1, 4, static_cast<uint32_t>(u % 2 == 0), 0, static_cast<uint32_t>(u % 2 == 0), 1, 9.5});
  }
  ExperimentReport r = BuildReport(e, sums);
  REQUIRE(r.variants.size() == 2);
  CHECK(r.variants[0].metrics.empty());
  REQUIRE(r.variants[1].metrics.size() == 5);
  CHECK(r.variants[1].metrics[0].metric == "ctr");
  CHECK(r.variants[1].metrics[0].comparison.relative == Approx(1.0));
  CHECK(r.variants[1].metrics[0].comparison.p_value < 1e-6);
  CHECK(r.sample_ratio_p == Approx(1.0));
  const std::string text = ReportText(r);
  CHECK(text.find("significant") != std::string::npos);
  CHECK(text.find("MISMATCH") == std::string::npos);
  const std::string json = ReportJson(r);
  CHECK(json.find(R"("name":"better")") != std::string::npos);
  CHECK(json.find(R"("ctr":{"control":0.0625)") != std::string::npos);
  // 3,000 users where 4,000 were due: the split is broken.
  sums[1].users = 3000;
  r = BuildReport(e, sums);
  CHECK(r.sample_ratio_p < 0.001);
  CHECK(ReportText(r).find("MISMATCH") != std::string::npos);
}

}  // namespace streamrec::experiment

namespace streamrec::experiment {

TEST_CASE("the paired comparison reads only the events one configuration hit and the other missed", "[statistics]") {
  // 1,000 events: both hit 300, only the control 20, only the treatment 60.
  const Comparison c = CompareMatched(320, 360, 20, 60, 1000);
  CHECK(c.control == Approx(0.32));
  CHECK(c.treatment == Approx(0.36));
  CHECK(c.difference == Approx(0.04));
  // McNemar: z = (60 - 20) / sqrt(80) = 4.47.
  CHECK(c.p_value == Approx(2 * (1 - NormalCdf(40 / std::sqrt(80.0)))));
  CHECK(c.ci_low > 0.0);
  CHECK(c.ci_high < 0.08);
  const Comparison same = CompareMatched(320, 320, 0, 0, 1000);
  CHECK(same.p_value == 1.0);
  CHECK(same.difference == 0.0);
}

}  // namespace streamrec::experiment
