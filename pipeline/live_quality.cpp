#include "pipeline/live_quality.h"

#include <algorithm>

#include "common/hash.h"

namespace streamrec::pipeline {

LiveQuality::LiveQuality(const learner::Learner* learner, size_t n, LiveQualityOptions options,
                         emitter::ScoringPrecision precision)
    : learner_(learner), options_(options), probe_(learner, n, precision) {}

void LiveQuality::TestBeforeLearning(const UserRecord& user, std::string_view item, EventType type,
                                     uint64_t event_key, int64_t now_ms) {
  if (options_.sample <= 0 || user.events == 0) return;  // first events of a user are not scored
  // The cheap sampling decision first: the other checks cost a lookup and a history scan.
  if (static_cast<double>(Mix64(event_key) % 1000000) >= options_.sample * 1e6) return;
  std::optional<ItemId> target = learner_->FindItem(item);
  if (target && std::find(user.history.begin(), user.history.end(), *target) != user.history.end()) return;
  if (options_.max_per_s > 0) {
    if (now_ms / 1000 != second_) {
      second_ = now_ms / 1000;
      tests_this_second_ = 0;
    }
    if (tests_this_second_ >= options_.max_per_s) {
      ++skipped_;
      return;
    }
    ++tests_this_second_;
  }
  const std::optional<size_t> rank = probe_.Rank(user, user.history, target);
  figures_.Record(type, rank ? std::optional<double>(static_cast<double>(*rank)) : std::nullopt);
}

}  // namespace streamrec::pipeline
