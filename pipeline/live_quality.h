// LiveQuality: the protocol's prequential figures measured on the live stream.
// A sampled share of scored events (known user, item new to them) is tested
// against the user's current list, computed with the emitter's top-N code,
// before the learner sees the event. Not thread-safe: the pipeline's thread
// owns it.
#pragma once

#include <cstdint>
#include <string_view>

#include "model/prequential.h"

namespace streamrec::pipeline {

struct LiveQualityOptions {
  // Share of scored events tested, [0, 1]; 0 disables.
  double sample = 0.02;
  // At most this many tests in a second of the caller's clock; 0: no bound.
  // Each test scores the user against every item, so the bound keeps the
  // cost flat whatever the traffic; the events of a busy second past it go
  // untested (the figures lean slightly towards each second's first events).
  int max_per_s = 20;
};

class LiveQuality {
 public:
  LiveQuality(const learner::Learner* learner, size_t n, LiveQualityOptions options,
              emitter::ScoringPrecision precision);

  // Call before the learner observes the event. `event_key` picks the sample
  // stably; `now_ms` (any millisecond clock) counts the tests a second.
  void TestBeforeLearning(const UserRecord& user, std::string_view item, EventType type, uint64_t event_key,
                          int64_t now_ms);

  const model::HitCounts& figures() const { return figures_; }
  // Sampled events left untested because their second's tests were spent.
  uint64_t skipped() const { return skipped_; }

 private:
  const learner::Learner* learner_;
  LiveQualityOptions options_;
  model::ListProbe probe_;
  model::HitCounts figures_;
  int64_t second_ = -1;      // now_ms / 1000 of the tests counted in tests_this_second_
  int tests_this_second_ = 0;
  uint64_t skipped_ = 0;
};

}  // namespace streamrec::pipeline
