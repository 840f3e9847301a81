// What the offline replay (Evaluate) and the live pipeline (LiveQuality) share
// to measure the protocol's figures: the counts, and the user's list computed
// exactly as the emitter computes it.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "common/event.h"
#include "common/state.h"
#include "emitter/topn.h"
#include "learner/learner.h"

namespace streamrec::model {

// Hits and reciprocal ranks over scored events, overall and per event type.
struct HitCounts {
  uint64_t scored = 0;
  uint64_t hits = 0;
  double reciprocal_rank_sum = 0;
  std::array<uint64_t, kEventTypeCount> scored_by_type{};
  std::array<uint64_t, kEventTypeCount> hits_by_type{};

  // One scored event; `rank` (0-based) when it was a hit.
  void Record(EventType type, std::optional<double> rank);

  double recall() const { return scored ? static_cast<double>(hits) / static_cast<double>(scored) : 0; }
  double mrr() const { return scored ? reciprocal_rank_sum / static_cast<double>(scored) : 0; }
  double recall(EventType type) const;
  // "recall@N r, mrr@N m over K scored events, view r, ..." for logs.
  std::string Summary(size_t n) const;
};

// The user's current top-N from the learner (query vector, co-occurrence
// boosts) through the emitter's TopNScorer, at the emitter's precision.
// Not thread-safe.
class ListProbe {
 public:
  ListProbe(const learner::Learner* learner, size_t n, emitter::ScoringPrecision precision);

  // Computes the list without `exclude`; returns the 0-based rank of `target` in it, if there.
  std::optional<size_t> Rank(const UserRecord& user, std::span<const ItemId> exclude, std::optional<ItemId> target);
  // The list of the last Rank() call, best first.
  const std::vector<emitter::ScoredItem>& list() const { return lists_[0]; }

 private:
  const learner::Learner* learner_;
  emitter::TopNScorer scorer_;
  std::vector<float> query_;
  std::vector<std::pair<ItemId, float>> boosts_;
  std::vector<std::vector<emitter::ScoredItem>> lists_;
};

}  // namespace streamrec::model
