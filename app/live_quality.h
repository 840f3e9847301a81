// LiveQuality: the protocol's prequential figures measured on the live stream.
// A sampled share of scored events (known user, item new to them, item known)
// is tested against the user's current top-N list, computed with the
// emitter's top-N code, before the learner sees the event.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "common/event.h"
#include "common/state.h"
#include "emitter/topn.h"
#include "learner/learner.h"

namespace streamrec::app {

struct QualityFigures {
  uint64_t tested = 0;
  uint64_t hits = 0;
  double reciprocal_rank_sum = 0;
  std::array<uint64_t, kEventTypeCount> tested_by_type{};
  std::array<uint64_t, kEventTypeCount> hits_by_type{};

  double recall() const { return tested ? static_cast<double>(hits) / static_cast<double>(tested) : 0; }
  double mrr() const { return tested ? reciprocal_rank_sum / static_cast<double>(tested) : 0; }
  std::string Summary(size_t n) const;
};

class LiveQuality {
 public:
  // `sample` in [0, 1]: share of scored events tested; 0 disables.
  LiveQuality(const learner::Learner* learner, size_t n, double sample);

  // Call before the learner observes the event. `event_key` picks the sample stably.
  void TestBeforeLearning(const UserRecord& user, std::string_view item, EventType type, uint64_t event_key);

  const QualityFigures& figures() const { return figures_; }

 private:
  const learner::Learner* learner_;
  double sample_;
  emitter::TopNScorer scorer_;
  std::vector<float> query_;
  std::vector<std::pair<ItemId, float>> boosts_;
  std::vector<std::vector<emitter::ScoredItem>> lists_;
  QualityFigures figures_;
};

}  // namespace streamrec::app
