// Statistics of an experiment: per-variant sums over users, and the
// comparison of a variant with the control a reader can trust.
//
// The unit is the user (the unit of assignment): a user's lists are not
// independent draws, so rates per list (CTR = lists clicked / lists served)
// are ratios of two per-user sums, whose variance comes from the delta method
// (Deng et al., "Applying the Delta Method in Metric Analytics", KDD 2018); a
// test that counted lists as independent would flag A/A differences far more
// often than its 5 %. Means per user (revenue) use Welch's t-test.
#pragma once

#include <array>
#include <cstddef>
#include <span>
#include <string_view>

#include "common/state.h"

namespace streamrec::experiment {

// The per-user quantities of ExperimentCounts.
enum Metric : size_t { kLists, kClicked, kCarted, kBought, kUnits, kRevenue, kMetrics };
inline constexpr std::array<std::string_view, kMetrics> kMetricNames = {"lists",  "clicked", "carted",
                                                                         "bought", "units",   "revenue"};

// Sums over the users of one variant: n, sum of each quantity, and of each
// product of two (enough for any mean, ratio and their variances).
struct VariantSums {
  double users = 0.0;
  std::array<double, kMetrics> sum{};
  std::array<std::array<double, kMetrics>, kMetrics> cross{};

  void Add(const ExperimentCounts& user);
  double Mean(Metric m) const { return users > 0 ? sum[m] / users : 0.0; }
  // Sample covariance of two quantities over users.
  double Covariance(Metric a, Metric b) const;
  // sum[num] / sum[den], e.g. CTR = clicked / lists.
  double Ratio(Metric num, Metric den) const { return sum[den] > 0 ? sum[num] / sum[den] : 0.0; }
};

struct Comparison {
  double control = 0.0;    // the metric in the control variant
  double treatment = 0.0;  // and in the compared one
  double difference = 0.0; // treatment - control
  double ci_low = 0.0, ci_high = 0.0;  // 95 % confidence interval of the difference
  double relative = 0.0;   // difference / control (0 when control is 0)
  double p_value = 1.0;    // two-sided, of "no difference"
  // Users per variant to detect a change of `mde` (relative) at 5 % with 80 %
  // power, at the variance seen; infinite when nothing varies yet.
  double users_needed = 0.0;
};

// A rate per list: sum[num] / sum[den] per variant (delta method, z-test).
Comparison CompareRatio(const VariantSums& control, const VariantSums& treatment, Metric num, Metric den,
                        double mde = 0.05);
// A mean per user (Welch's t-test).
Comparison CompareMean(const VariantSums& control, const VariantSums& treatment, Metric m, double mde = 0.05);
// Two configurations tested on the same events (offline replay, `eval
// --variant`): a rate's difference from the discordant pairs alone (events
// only the control hit, only the treatment hit; McNemar's test), of `n` events.
Comparison CompareMatched(uint64_t control_hits, uint64_t treatment_hits, uint64_t only_control,
                          uint64_t only_treatment, uint64_t n);
// Sample-ratio mismatch: the p-value of the users per variant against their
// configured shares (chi-square goodness of fit). Below 0.001, assignment or
// logging is broken and no difference can be trusted.
double SampleRatioMismatchP(std::span<const double> users, std::span<const double> shares);

// Distribution functions, exposed for tests.
double NormalCdf(double z);
double StudentTCdf(double t, double df);
double ChiSquareSurvival(double x, double df);  // P(X >= x)

}  // namespace streamrec::experiment
