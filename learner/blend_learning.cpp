#include "learner/blend_learning.h"

#include <algorithm>
#include <cmath>

namespace streamrec::learner {

BlendFeatures BlendLearning::Features(const UserRecord& user, ItemId c, double now, const ItemTable& items,
                                      const LearnerOptions& options) const {
  BlendFeatures f;
  const float* q = items.embedding(c);
  float dot = 0.0F;
  for (size_t d = 0; d < items.dim(); ++d) dot += user.embedding[d] * q[d];
  f.mf = dot + items.bias(c);
  // Learner::Boosts' sum for c alone.
  double cooc = 0.0;
  items.ForEachCoocTerm(user.history, static_cast<size_t>(options.cooc_window), options.cooc_decay, c,
                        [&](ItemId, float add) { cooc += add; });
  f.cooc = static_cast<float>(cooc) * items.inv_sqrt_count(c);
  f.recency = static_cast<float>(
      std::max(static_cast<double>(items.recency()[c.value()]) - now, -ItemTable::kRecencyFloor));
  return f;
}

void BlendLearning::Learn(const UserRecord& user, ItemId item, double now, const ItemTable& items,
                          const LearnerOptions& options, OnlineBlend* blend) const {
  const auto& h = user.history;
  const ItemId cutoff = user.list_cutoff;
  if (h.empty() || cutoff.value() >= items.size() || items.count(item) == 0 || cutoff == item) return;
  if (std::find(h.begin(), h.end(), item) != h.end()) return;
  blend->Learn(Features(user, item, now, items, options), Features(user, cutoff, now, items, options));
}

void BlendLearning::SyncTerms(double now, const OnlineBlend& blend, ItemTable* items) {
  ++since_sync_;
  const uint64_t min_events = std::max<uint64_t>(256, items->size() / 64);
  if (since_sync_ < min_events) return;
  const float served = items->recency_weight();
  const float wanted = blend.recency_weight();
  const bool moved = std::abs(wanted - served) > 0.02F * std::max(std::abs(served), 0.01F);
  if (!moved && since_sync_ < 32 * min_events) return;
  items->SetRecencyTerm(wanted, now);
  since_sync_ = 0;
}

}  // namespace streamrec::learner
