#include "experiment/report.h"

#include <cmath>
#include <iterator>

#include <fmt/format.h>

#include "common/json.h"

namespace streamrec::experiment {
namespace {

struct MetricSpec {
  const char* name;
  const char* label;
  bool rate;  // a share, printed in %
  Comparison (*compare)(const VariantSums&, const VariantSums&, double);
};

constexpr MetricSpec kMetricSpecs[] = {
    {"ctr", "CTR (clicks / lists served)", true,
     [](const VariantSums& a, const VariantSums& b, double mde) { return CompareRatio(a, b, kClicked, kLists, mde); }},
    {"cart_rate", "add-to-cart rate", true,
     [](const VariantSums& a, const VariantSums& b, double mde) { return CompareRatio(a, b, kCarted, kLists, mde); }},
    {"cvr", "CVR (purchases / lists served)", true,
     [](const VariantSums& a, const VariantSums& b, double mde) { return CompareRatio(a, b, kBought, kLists, mde); }},
    {"revenue_per_user", "revenue per user", false,
     [](const VariantSums& a, const VariantSums& b, double mde) { return CompareMean(a, b, kRevenue, mde); }},
    {"units_per_order", "units per purchase", false,
     [](const VariantSums& a, const VariantSums& b, double mde) { return CompareRatio(a, b, kUnits, kBought, mde); }},
};

std::string Value(double v, bool rate) { return rate ? fmt::format("{:.3f} %", v * 100) : fmt::format("{:.4g}", v); }

// A difference: percentage points for rates.
std::string Difference(double v, bool rate) { return rate ? fmt::format("{:+.3f} pp", v * 100) : fmt::format("{:+.4g}", v); }

std::string PValue(double p) { return p < 0.0001 ? "p < 0.0001" : fmt::format("p = {:.4f}", p); }

std::string Needed(const Comparison& c, double users) {
  if (!std::isfinite(c.users_needed)) return "not yet measurable";
  if (c.users_needed <= users) return fmt::format("{:.0f} (reached)", c.users_needed);
  return fmt::format("{:.0f} ({:.0f} more)", c.users_needed, c.users_needed - users);
}

void AppendNumber(double v, std::string* out) {
  if (std::isfinite(v)) {
    fmt::format_to(std::back_inserter(*out), "{:.6g}", v);
  } else {
    *out += "null";
  }
}

}  // namespace

ExperimentReport BuildReport(const ExperimentOptions& e, const std::vector<VariantSums>& sums, double mde) {
  ExperimentReport r;
  r.experiment = e.name;
  r.mde = mde;
  std::vector<double> users;
  std::vector<double> shares;
  for (size_t v = 0; v < e.variants.size(); ++v) {
    VariantRow& row = r.variants.emplace_back();
    row.name = e.variants[v].name;
    row.share = e.variants[v].share;
    if (v < sums.size()) row.sums = sums[v];
    users.push_back(row.sums.users);
    shares.push_back(row.share);
  }
  r.sample_ratio_p = SampleRatioMismatchP(users, shares);
  for (size_t v = 1; v < r.variants.size(); ++v) {
    for (const MetricSpec& m : kMetricSpecs) {
      r.variants[v].metrics.push_back({m.name, m.compare(r.variants[0].sums, r.variants[v].sums, mde)});
    }
  }
  return r;
}

std::string ReportText(const ExperimentReport& r) {
  std::string out = fmt::format("experiment '{}': {} variants; sample ratio check p = {:.4f}{}\n", r.experiment,
                                r.variants.size(), r.sample_ratio_p,
                                r.sample_ratio_p < 0.001 ? " -- MISMATCH: the users per variant do not follow the "
                                                           "shares, so no difference below can be trusted"
                                                         : " (users split as configured)");
  out += fmt::format("{:<16} {:>6} {:>10} {:>11} {:>9} {:>9} {:>9} {:>12}\n", "variant", "share", "users", "lists",
                     "CTR", "carts", "CVR", "revenue/user");
  for (const VariantRow& v : r.variants) {
    const VariantSums& s = v.sums;
    out += fmt::format("{:<16} {:>5.1f}% {:>10.0f} {:>11.0f} {:>8.3f}% {:>8.3f}% {:>8.3f}% {:>12.4g}\n", v.name,
                       v.share * 100, s.users, s.sum[kLists], s.Ratio(kClicked, kLists) * 100,
                       s.Ratio(kCarted, kLists) * 100, s.Ratio(kBought, kLists) * 100, s.Mean(kRevenue));
  }
  for (size_t v = 1; v < r.variants.size(); ++v) {
    const VariantRow& row = r.variants[v];
    out += fmt::format("\n{} against {} (difference, 95 % confidence interval, two-sided p):\n", row.name,
                       r.variants[0].name);
    const double users = std::min(row.sums.users, r.variants[0].sums.users);
    for (size_t k = 0; k < row.metrics.size(); ++k) {
      const MetricSpec& spec = kMetricSpecs[k];
      const Comparison& c = row.metrics[k].comparison;
      out += fmt::format("  {:<34} {} -> {}  {:+.1f} %  [{}, {}]  {}{}\n", spec.label, Value(c.control, spec.rate),
                         Value(c.treatment, spec.rate), c.relative * 100, Difference(c.ci_low, spec.rate),
                         Difference(c.ci_high, spec.rate), PValue(c.p_value), c.p_value < 0.05 ? "  significant" : "");
      out += fmt::format("  {:<34} users per variant to see a {:.0f} % change: {}\n", "", r.mde * 100,
                         Needed(c, users));
    }
  }
  return out;
}

std::string ReportJson(const ExperimentReport& r) {
  std::string out = "{\"experiment\":";
  AppendJsonString(r.experiment, &out);
  out += ",\"mde\":";
  AppendNumber(r.mde, &out);
  out += ",\"sample_ratio_p\":";
  AppendNumber(r.sample_ratio_p, &out);
  out += ",\"variants\":[";
  for (size_t v = 0; v < r.variants.size(); ++v) {
    const VariantRow& row = r.variants[v];
    if (v > 0) out += ',';
    out += "{\"name\":";
    AppendJsonString(row.name, &out);
    out += ",\"share\":";
    AppendNumber(row.share, &out);
    out += ",\"users\":";
    AppendNumber(row.sums.users, &out);
    for (size_t m = 0; m < kMetrics; ++m) {
      out += ",\"" + std::string(kMetricNames[m]) + "\":";
      AppendNumber(row.sums.sum[m], &out);
    }
    out += ",\"against_control\":{";
    for (size_t k = 0; k < row.metrics.size(); ++k) {
      const Comparison& c = row.metrics[k].comparison;
      if (k > 0) out += ',';
      out += "\"" + row.metrics[k].metric + "\":{";
      const std::pair<const char*, double> fields[] = {
          {"control", c.control}, {"treatment", c.treatment}, {"difference", c.difference},
          {"ci_low", c.ci_low},   {"ci_high", c.ci_high},     {"relative", c.relative},
          {"p_value", c.p_value}, {"users_needed", c.users_needed}};
      for (size_t f = 0; f < std::size(fields); ++f) {
        out += (f > 0 ? ",\"" : "\"") + std::string(fields[f].first) + "\":";
        AppendNumber(fields[f].second, &out);
      }
      out += '}';
    }
    out += "}}";
  }
  out += "]}";
  return out;
}

}  // namespace streamrec::experiment
