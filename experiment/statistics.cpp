#include "experiment/statistics.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace streamrec::experiment {
namespace {

constexpr double kZ975 = 1.959963984540054;  // two-sided 5 %
constexpr double kZ80 = 0.8416212335729143;  // 80 % power
constexpr double kInfinity = std::numeric_limits<double>::infinity();

// Continued fraction of the regularized incomplete beta (modified Lentz).
double BetaFraction(double a, double b, double x) {
  constexpr double kTiny = 1e-300;
  double c = 1.0;
  double d = 1.0 - (a + b) * x / (a + 1.0);
  if (std::abs(d) < kTiny) d = kTiny;
  d = 1.0 / d;
  double h = d;
  for (int m = 1; m <= 300; ++m) {
    const double m2 = 2.0 * m;
    double aa = m * (b - m) * x / ((a - 1.0 + m2) * (a + m2));
    for (int half = 0; half < 2; ++half) {
      d = 1.0 + aa * d;
      if (std::abs(d) < kTiny) d = kTiny;
      c = 1.0 + aa / c;
      if (std::abs(c) < kTiny) c = kTiny;
      d = 1.0 / d;
      h *= d * c;
      aa = -(a + m) * (a + b + m) * x / ((a + m2) * (a + 1.0 + m2));
    }
    if (std::abs(d * c - 1.0) < 1e-14) break;
  }
  return h;
}

// I_x(a, b).
double RegularizedBeta(double a, double b, double x) {
  if (x <= 0.0) return 0.0;
  if (x >= 1.0) return 1.0;
  const double front =
      std::exp(std::lgamma(a + b) - std::lgamma(a) - std::lgamma(b) + a * std::log(x) + b * std::log1p(-x));
  if (x < (a + 1.0) / (a + b + 2.0)) return front * BetaFraction(a, b, x) / a;
  return 1.0 - front * BetaFraction(b, a, 1.0 - x) / b;
}

// Q(a, x), the regularized upper incomplete gamma.
double RegularizedGammaQ(double a, double x) {
  if (x <= 0.0) return 1.0;
  const double log_front = -x + a * std::log(x) - std::lgamma(a);
  if (x < a + 1.0) {  // series for P
    double term = 1.0 / a;
    double sum = term;
    for (int n = 1; n < 1000 && std::abs(term) > std::abs(sum) * 1e-15; ++n) {
      term *= x / (a + n);
      sum += term;
    }
    return 1.0 - sum * std::exp(log_front);
  }
  constexpr double kTiny = 1e-300;  // continued fraction for Q (Lentz)
  double b = x + 1.0 - a;
  double c = 1.0 / kTiny;
  double d = 1.0 / b;
  double h = d;
  for (int n = 1; n < 1000; ++n) {
    const double an = -n * (n - a);
    b += 2.0;
    d = an * d + b;
    if (std::abs(d) < kTiny) d = kTiny;
    c = b + an / c;
    if (std::abs(c) < kTiny) c = kTiny;
    d = 1.0 / d;
    h *= d * c;
    if (std::abs(d * c - 1.0) < 1e-15) break;
  }
  return std::exp(log_front) * h;
}

// The t with StudentTCdf(t, df) = p, by bisection (p in (0.5, 1)).
double StudentTQuantile(double p, double df) {
  double lo = 0.0;
  double hi = 1000.0;
  for (int i = 0; i < 100; ++i) {
    const double mid = 0.5 * (lo + hi);
    (StudentTCdf(mid, df) < p ? lo : hi) = mid;
  }
  return 0.5 * (lo + hi);
}

double UsersNeeded(double per_user_variance_a, double per_user_variance_b, double control, double mde) {
  const double delta = mde * std::abs(control);
  if (delta <= 0.0 || per_user_variance_a + per_user_variance_b <= 0.0) return kInfinity;
  const double z = kZ975 + kZ80;
  return std::ceil(z * z * (per_user_variance_a + per_user_variance_b) / (delta * delta));
}

void Finish(double se, Comparison* c) {
  c->difference = c->treatment - c->control;
  c->relative = c->control != 0.0 ? c->difference / c->control : 0.0;
  c->ci_low = c->difference - kZ975 * se;
  c->ci_high = c->difference + kZ975 * se;
}

}  // namespace

void VariantSums::Add(const ExperimentCounts& user) {
  const std::array<double, kMetrics> x = {static_cast<double>(user.lists),  static_cast<double>(user.clicked),
                                          static_cast<double>(user.carted), static_cast<double>(user.bought),
                                          static_cast<double>(user.units),  user.revenue};
  users += 1.0;
  for (size_t i = 0; i < kMetrics; ++i) {
    sum[i] += x[i];
    for (size_t j = 0; j < kMetrics; ++j) cross[i][j] += x[i] * x[j];
  }
}

double VariantSums::Covariance(Metric a, Metric b) const {
  if (users < 2) return 0.0;
  return (cross[a][b] - sum[a] * sum[b] / users) / (users - 1.0);
}

double NormalCdf(double z) { return 0.5 * std::erfc(-z / std::sqrt(2.0)); }

double StudentTCdf(double t, double df) {
  if (!(df > 0)) return NormalCdf(t);
  const double tail = 0.5 * RegularizedBeta(df / 2.0, 0.5, df / (df + t * t));
  return t >= 0 ? 1.0 - tail : tail;
}

double ChiSquareSurvival(double x, double df) { return RegularizedGammaQ(df / 2.0, x / 2.0); }

Comparison CompareRatio(const VariantSums& control, const VariantSums& treatment, Metric num, Metric den,
                        double mde) {
  // The ratio's per-user linearisation: (x - R y) / mean(y); its variance / n
  // is the ratio's (delta method).
  auto per_user_variance = [&](const VariantSums& s) {
    const double y = s.Mean(den);
    if (y <= 0.0) return 0.0;
    const double r = s.Ratio(num, den);
    const double v = s.Covariance(num, num) - 2.0 * r * s.Covariance(num, den) + r * r * s.Covariance(den, den);
    return std::max(0.0, v) / (y * y);
  };
  Comparison c;
  c.control = control.Ratio(num, den);
  c.treatment = treatment.Ratio(num, den);
  const double va = per_user_variance(control);
  const double vb = per_user_variance(treatment);
  const double se =
      control.users > 0 && treatment.users > 0 ? std::sqrt(va / control.users + vb / treatment.users) : 0.0;
  Finish(se, &c);
  c.p_value = se > 0 ? 2.0 * (1.0 - NormalCdf(std::abs(c.difference) / se)) : 1.0;
  c.users_needed = UsersNeeded(va, vb, c.control, mde);
  return c;
}

Comparison CompareMean(const VariantSums& control, const VariantSums& treatment, Metric m, double mde) {
  Comparison c;
  c.control = control.Mean(m);
  c.treatment = treatment.Mean(m);
  const double va = control.Covariance(m, m);
  const double vb = treatment.Covariance(m, m);
  const double qa = control.users > 1 ? va / control.users : 0.0;
  const double qb = treatment.users > 1 ? vb / treatment.users : 0.0;
  const double se = std::sqrt(qa + qb);
  c.users_needed = UsersNeeded(va, vb, c.control, mde);
  if (se <= 0.0) {
    Finish(0.0, &c);
    return c;
  }
  // Welch-Satterthwaite degrees of freedom.
  const double df = (qa + qb) * (qa + qb) / (qa * qa / (control.users - 1.0) + qb * qb / (treatment.users - 1.0));
  Finish(se * StudentTQuantile(0.975, df) / kZ975, &c);
  const double t = std::abs(c.difference) / se;
  c.p_value = 2.0 * (1.0 - StudentTCdf(t, df));
  return c;
}

Comparison CompareMatched(uint64_t control_hits, uint64_t treatment_hits, uint64_t only_control,
                          uint64_t only_treatment, uint64_t n) {
  Comparison c;
  if (n == 0) return c;
  const auto count = static_cast<double>(n);
  c.control = static_cast<double>(control_hits) / count;
  c.treatment = static_cast<double>(treatment_hits) / count;
  const double b = static_cast<double>(only_control);
  const double d = static_cast<double>(only_treatment);
  // Var of the paired difference: (b + d - (d - b)^2 / n) / n^2.
  const double se = std::sqrt(std::max(0.0, b + d - (d - b) * (d - b) / count)) / count;
  Finish(se, &c);
  c.p_value = b + d > 0 ? 2.0 * (1.0 - NormalCdf(std::abs(d - b) / std::sqrt(b + d))) : 1.0;
  c.users_needed = std::numeric_limits<double>::quiet_NaN();  // not a sample of users
  return c;
}

double SampleRatioMismatchP(std::span<const double> users, std::span<const double> shares) {
  double total = 0.0;
  for (double u : users) total += u;
  if (users.size() < 2 || users.size() != shares.size() || total <= 0.0) return 1.0;
  double chi2 = 0.0;
  for (size_t v = 0; v < users.size(); ++v) {
    const double expected = total * shares[v];
    if (expected > 0.0) chi2 += (users[v] - expected) * (users[v] - expected) / expected;
  }
  return ChiSquareSurvival(chi2, static_cast<double>(users.size() - 1));
}

}  // namespace streamrec::experiment
