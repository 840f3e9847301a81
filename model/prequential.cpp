#include "model/prequential.h"

#include <fmt/format.h>

namespace streamrec::model {

void HitCounts::Record(EventType type, std::optional<double> rank) {
  const auto t = static_cast<size_t>(type);
  ++scored;
  ++scored_by_type[t];
  if (!rank) return;
  ++hits;
  ++hits_by_type[t];
  reciprocal_rank_sum += 1.0 / (*rank + 1.0);
}

double HitCounts::recall(EventType type) const {
  const auto t = static_cast<size_t>(type);
  return scored_by_type[t] ? static_cast<double>(hits_by_type[t]) / static_cast<double>(scored_by_type[t]) : 0;
}

std::string HitCounts::Summary(size_t n) const {
  std::string out = fmt::format("recall@{} {:.4f}, mrr@{} {:.4f} over {} sampled scored events", n, recall(), n,
                                mrr(), scored);
  for (size_t t = 0; t < kEventTypeCount; ++t) {
    if (scored_by_type[t]) out += fmt::format(", {} {:.4f}", EventTypeName(static_cast<EventType>(t)),
                                              recall(static_cast<EventType>(t)));
  }
  return out;
}

ListProbe::ListProbe(const learner::Learner* learner, size_t n, emitter::ScoringPrecision precision)
    : learner_(learner), scorer_(n, emitter::kMaxBlockRows, precision), lists_(1) {}

std::optional<size_t> ListProbe::Rank(const UserRecord& user, std::span<const ItemId> exclude,
                                      std::optional<ItemId> target) {
  query_.resize(static_cast<size_t>(learner_->options().dim));
  learner_->QueryVector(user, query_);
  learner_->Boosts(user, &boosts_);  // as learned: the live lists' default
  const emitter::TopNQuery q{query_, exclude, boosts_};
  scorer_.Score(learner_->Items(), {&q, 1}, &lists_);
  if (!target) return std::nullopt;
  for (size_t r = 0; r < lists_[0].size(); ++r) {
    if (lists_[0][r].item == *target) return r;
  }
  return std::nullopt;
}

}  // namespace streamrec::model
