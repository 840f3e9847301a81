// LatencyHistogram: durations counted in fixed buckets (milliseconds), for
// the Prometheus histograms of /metrics and the percentiles of the status
// line. Fixed buckets make histograms of different processes and moments
// add up (Prometheus' histogram_quantile), at the price of coarse quantiles
// between bounds.
//
// Thread-safety: none; one owner (the pipeline's thread), copied out by value.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

namespace streamrec {

class LatencyHistogram {
 public:
  // Upper bounds (ms) of the finite buckets; a last bucket holds the rest (+Inf).
  static constexpr std::array<double, 22> kBoundsMs = {1,   2,   3,   5,    7,    10,   15,   20,    30,    50,    70,
                                                       100, 150, 200, 300,  500,  700,  1000, 2000,  5000,  10000, 30000};
  static constexpr size_t kBuckets = kBoundsMs.size() + 1;

  void Record(double ms) {
    size_t b = 0;
    while (b < kBoundsMs.size() && ms > kBoundsMs[b]) ++b;
    ++counts_[b];
    ++count_;
    sum_ms_ += ms;
  }
  // Counts since `earlier`, a copy of this histogram taken before.
  LatencyHistogram Since(const LatencyHistogram& earlier) const {
    LatencyHistogram d;
    for (size_t b = 0; b < kBuckets; ++b) d.counts_[b] = counts_[b] - earlier.counts_[b];
    d.count_ = count_ - earlier.count_;
    d.sum_ms_ = sum_ms_ - earlier.sum_ms_;
    return d;
  }

  uint64_t count() const { return count_; }
  double sum_ms() const { return sum_ms_; }
  // Per bucket, not cumulative; the last one is +Inf.
  const std::array<uint64_t, kBuckets>& counts() const { return counts_; }
  // The upper bound of the bucket that holds quantile q in [0, 1] (an upper
  // estimate); the last finite bound for the +Inf bucket; 0 when empty.
  double QuantileBoundMs(double q) const {
    if (count_ == 0) return 0;
    const auto rank = static_cast<uint64_t>(q * static_cast<double>(count_ - 1));
    uint64_t seen = 0;
    for (size_t b = 0; b < kBoundsMs.size(); ++b) {
      seen += counts_[b];
      if (seen > rank) return kBoundsMs[b];
    }
    return kBoundsMs.back();
  }

 private:
  std::array<uint64_t, kBuckets> counts_{};
  uint64_t count_ = 0;
  double sum_ms_ = 0;
};

}  // namespace streamrec
