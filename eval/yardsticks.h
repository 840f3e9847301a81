// The field's yardsticks of a served list beside recall and MRR, as
// ../shared/PROTOCOL.md defines them: precision@N, NDCG@N, novelty@N,
// diversity@N (intra-list) and popularity@N, overall and broken down by the
// user's number of earlier events and by event type.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "common/event.h"
#include "common/ids.h"
#include "common/state.h"

namespace streamrec::eval {

// Sums over the lists served at scored events; the figures are their means.
struct ListYardsticks {
  uint64_t lists = 0;            // scored events (one served list each)
  uint64_t hits = 0;
  double reciprocal_rank = 0.0;  // sum of 1 / (rank + 1) over hits
  double gain = 0.0;             // sum of 1 / log2(rank + 2) over hits
  double novelty = 0.0;          // sum over lists of the mean -log2(count(i) / events so far)
  double popularity = 0.0;       // sum over lists of the mean count(i)
  double diversity = 0.0;        // sum over lists of 2+ items of their intra-list diversity
  uint64_t diverse_lists = 0;    // lists of 2+ items

  double recall() const { return lists ? static_cast<double>(hits) / static_cast<double>(lists) : 0.0; }
  double precision(size_t n) const { return n ? recall() / static_cast<double>(n) : 0.0; }
  double mrr() const { return lists ? reciprocal_rank / static_cast<double>(lists) : 0.0; }
  double ndcg() const { return lists ? gain / static_cast<double>(lists) : 0.0; }
  double mean_novelty() const { return lists ? novelty / static_cast<double>(lists) : 0.0; }
  double mean_popularity() const { return lists ? popularity / static_cast<double>(lists) : 0.0; }
  double mean_diversity() const { return diverse_lists ? diversity / static_cast<double>(diverse_lists) : 0.0; }
};

// The protocol's history buckets: 1, 2-3, 4-10, more than 10 earlier events.
inline constexpr size_t kHistoryBuckets = 4;
size_t HistoryBucket(uint64_t earlier_events);
std::string_view HistoryBucketName(size_t bucket);

struct Yardsticks {
  ListYardsticks overall;
  std::array<ListYardsticks, kHistoryBuckets> by_history;
  std::array<ListYardsticks, kEventTypeCount> by_type;
};

// Measures served lists. Diversity is 1 - the mean cosine similarity of the
// list's item pairs by the model's learned item vectors (the shared logs have
// no catalog categories); the same vectors for every model's lists, so that
// they compare. Not thread-safe.
class YardstickMeter {
 public:
  // One list served at a scored event: `hit_rank` the 0-based (average-tie)
  // rank of the item the user chose when it was a hit; `counts` gives an
  // item's events before this one, `events_so_far` all events before it;
  // `vectors` the item vectors (rows x dim).
  struct Served {
    std::span<const ItemId> list;
    std::optional<double> hit_rank;
    uint64_t earlier_events = 0;  // the user's
    EventType type = EventType::kView;
    uint64_t events_so_far = 0;
  };
  template <typename CountOf>
  void Measure(const Served& s, CountOf count_of, const ItemMatrixView& vectors, Yardsticks* out) {
    counts_.clear();
    for (ItemId id : s.list) counts_.push_back(count_of(id));
    Add(s, vectors, out);
  }

 private:
  void Add(const Served& s, const ItemMatrixView& vectors, Yardsticks* out);
  double Diversity(std::span<const ItemId> list, const ItemMatrixView& vectors);

  std::vector<uint64_t> counts_;
  std::vector<double> sum_;  // the sum of the list's unit vectors
};

}  // namespace streamrec::eval
