#include "eval/yardsticks.h"

#include <algorithm>
#include <cmath>

namespace streamrec::eval {

size_t HistoryBucket(uint64_t earlier_events) {
  if (earlier_events <= 1) return 0;
  if (earlier_events <= 3) return 1;
  if (earlier_events <= 10) return 2;
  return 3;
}

std::string_view HistoryBucketName(size_t bucket) {
  static constexpr std::string_view kNames[kHistoryBuckets] = {"1", "2-3", "4-10", ">10"};
  return bucket < kHistoryBuckets ? kNames[bucket] : "?";
}

double YardstickMeter::Diversity(std::span<const ItemId> list, const ItemMatrixView& vectors) {
  // The sum of the pairs' cosines without visiting the pairs: with unit
  // vectors u, sum_{a<b} u_a . u_b = (|sum u|^2 - sum |u|^2) / 2.
  const size_t dim = vectors.dim;
  sum_.assign(dim, 0.0);
  double squares = 0.0;  // sum of |u|^2: 1 per item with a vector
  for (ItemId id : list) {
    if (id.value() >= vectors.rows) continue;  // no vector: similar to nothing
    const float* v = vectors.embeddings + static_cast<size_t>(id.value()) * dim;
    double norm = 0.0;
    for (size_t d = 0; d < dim; ++d) norm += static_cast<double>(v[d]) * v[d];
    if (norm == 0.0) continue;
    const double inv = 1.0 / std::sqrt(norm);
    for (size_t d = 0; d < dim; ++d) sum_[d] += v[d] * inv;
    squares += 1.0;
  }
  double total = 0.0;
  for (double x : sum_) total += x * x;
  const double pairs = static_cast<double>(list.size()) * static_cast<double>(list.size() - 1) / 2.0;
  return 1.0 - (total - squares) / 2.0 / pairs;
}

void YardstickMeter::Add(const Served& s, const ItemMatrixView& vectors, Yardsticks* out) {
  double novelty = 0.0;
  double popularity = 0.0;
  const double events = static_cast<double>(std::max<uint64_t>(s.events_so_far, 1));
  for (uint64_t count : counts_) {
    // Every listed item was seen before (a candidate); a count of 0 (a
    // catalog item) is taken as 1, the rarest an item can be.
    const double c = static_cast<double>(std::max<uint64_t>(count, 1));
    novelty += -std::log2(std::min(c / events, 1.0));
    popularity += static_cast<double>(count);
  }
  const double items = static_cast<double>(std::max<size_t>(counts_.size(), 1));
  const bool diverse = s.list.size() >= 2;
  const double diversity = diverse ? Diversity(s.list, vectors) : 0.0;
  ListYardsticks* const targets[] = {&out->overall, &out->by_history[HistoryBucket(s.earlier_events)],
                                     &out->by_type[static_cast<size_t>(s.type)]};
  for (ListYardsticks* y : targets) {
    ++y->lists;
    if (s.hit_rank) {
      ++y->hits;
      y->reciprocal_rank += 1.0 / (*s.hit_rank + 1.0);
      y->gain += 1.0 / std::log2(*s.hit_rank + 2.0);
    }
    y->novelty += novelty / items;
    y->popularity += popularity / items;
    if (diverse) {
      y->diversity += diversity;
      ++y->diverse_lists;
    }
  }
}

}  // namespace streamrec::eval
