// LiveQuality: the protocol's prequential figures measured on the live stream.
// A sampled share of scored events (known user, item new to them) is tested
// against the user's current list, computed with the emitter's top-N code,
// before the learner sees the event.
#pragma once

#include <cstdint>
#include <string_view>

#include "model/prequential.h"

namespace streamrec::pipeline {

class LiveQuality {
 public:
  // `sample` in [0, 1]: share of scored events tested; 0 disables.
  LiveQuality(const learner::Learner* learner, size_t n, double sample, emitter::ScoringPrecision precision);

  // Call before the learner observes the event. `event_key` picks the sample stably.
  void TestBeforeLearning(const UserRecord& user, std::string_view item, EventType type, uint64_t event_key);

  const model::HitCounts& figures() const { return figures_; }

 private:
  const learner::Learner* learner_;
  double sample_;
  model::ListProbe probe_;
  model::HitCounts figures_;
};

}  // namespace streamrec::pipeline
