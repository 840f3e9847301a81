#include "app/live_quality.h"

#include <algorithm>

#include <fmt/format.h>

#include "common/hash.h"

namespace streamrec::app {

std::string QualityFigures::Summary(size_t n) const {
  std::string out = fmt::format("recall@{} {:.4f}, mrr@{} {:.4f} over {} sampled scored events", n, recall(), n,
                                mrr(), tested);
  for (size_t t = 0; t < kEventTypeCount; ++t) {
    if (!tested_by_type[t]) continue;
    out += fmt::format(", {} {:.4f}", EventTypeName(static_cast<EventType>(t)),
                       static_cast<double>(hits_by_type[t]) / static_cast<double>(tested_by_type[t]));
  }
  return out;
}

LiveQuality::LiveQuality(const learner::Learner* learner, size_t n, double sample)
    : learner_(learner), sample_(sample), scorer_(n) {}

void LiveQuality::TestBeforeLearning(const UserRecord& user, std::string_view item, EventType type,
                                     uint64_t event_key) {
  if (sample_ <= 0 || user.events == 0) return;  // first events of a user are not scored
  // The cheap sampling decision first: the other checks cost a lookup and a history scan.
  if (static_cast<double>(Mix64(event_key) % 1000000) >= sample_ * 1e6) return;
  std::optional<ItemId> target = learner_->FindItem(item);
  if (target && std::find(user.history.begin(), user.history.end(), *target) != user.history.end()) return;
  query_.resize(user.embedding.size());
  learner_->QueryVector(user, query_);
  learner_->Boosts(user, &boosts_);
  const emitter::TopNQuery q{query_, user.history, boosts_};
  scorer_.Score(learner_->Items(), {&q, 1}, &lists_);
  const auto t = static_cast<size_t>(type);
  ++figures_.tested;
  ++figures_.tested_by_type[t];
  if (!target) return;  // a brand-new item cannot be in any list yet
  for (size_t r = 0; r < lists_[0].size(); ++r) {
    if (lists_[0][r].item != *target) continue;
    ++figures_.hits;
    ++figures_.hits_by_type[t];
    figures_.reciprocal_rank_sum += 1.0 / static_cast<double>(r + 1);
    return;
  }
}

}  // namespace streamrec::app
