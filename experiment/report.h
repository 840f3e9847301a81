// ExperimentReport: what `streamrec experiments` prints. From the per-variant
// sums over users (statistics.h), each variant against the first one (the
// control): clicks, add-to-carts and purchases of listed items per list served
// (CTR, cart rate, CVR), revenue per user and units per purchase, each with its difference, 95 %
// confidence interval, p-value and the users still needed; and the
// sample-ratio check of the whole experiment.
#pragma once

#include <string>
#include <vector>

#include "experiment/experiment.h"
#include "experiment/statistics.h"

namespace streamrec::experiment {

struct MetricRow {
  std::string metric;  // "ctr", "cart_rate", "cvr", "revenue_per_user", "units_per_order"
  Comparison comparison;
};

struct VariantRow {
  std::string name;
  double share = 0.0;
  VariantSums sums;
  std::vector<MetricRow> metrics;  // against the control; empty for the control itself
};

struct ExperimentReport {
  std::string experiment;
  double mde = 0.05;            // relative change the users_needed figures are for
  double sample_ratio_p = 1.0;  // below 0.001: the split is broken, trust nothing
  std::vector<VariantRow> variants;
};

// `sums[v]` for e.variants[v].
ExperimentReport BuildReport(const ExperimentOptions& e, const std::vector<VariantSums>& sums, double mde = 0.05);
std::string ReportText(const ExperimentReport& report);
std::string ReportJson(const ExperimentReport& report);

}  // namespace streamrec::experiment
