#include "learner/blend_learning.h"

#include <algorithm>
#include <array>
#include <cmath>

namespace streamrec::learner {

BlendLearning::Now BlendLearning::At(int64_t ts_ms, const LearnerOptions& options) {
  const auto t = static_cast<double>(ts_ms);
  return {t / static_cast<double>(options.recency_half_life_ms), t / static_cast<double>(options.short_half_life_ms)};
}

BlendFeatures BlendLearning::Features(const UserRecord& user, ItemId c, Now now, const ItemTable& items,
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
  const auto relative = [](float recency, double at) {
    return static_cast<float>(std::max(static_cast<double>(recency) - at, -ItemTable::kRecencyFloor));
  };
  f.recency = relative(items.recency()[c.value()], now.recency);
  f.short_recency = relative(items.short_recency()[c.value()], now.short_recency);
  return f;
}

void BlendLearning::Learn(const UserRecord& user, ItemId item, Now now, const ItemTable& items,
                          const LearnerOptions& options, SessionNeighbors* sessions, OnlineBlend* blend,
                          BlendSteps* record) {
  const auto& h = user.history;
  const ItemId reference = user.list_reference;
  if (h.empty() || reference.value() >= items.size() || items.count(item) == 0 || reference == item) return;
  if (std::find(h.begin(), h.end(), item) != h.end()) return;
  items.PrefetchWindowRows(h, static_cast<size_t>(options.cooc_window), item);
  BlendFeatures chosen = Features(user, item, now, items, options);
  BlendFeatures listed = Features(user, reference, now, items, options);
  const std::array<ItemId, 2> both = {item, reference};
  std::array<float, 2> scores{};
  sessions->ScoreItems(user.id, h, both, scores);
  chosen.session = scores[0];
  listed.session = scores[1];
  blend->Learn(chosen, listed, record);
}

void BlendLearning::SyncTerms(Now now, const OnlineBlend& blend, ItemTable* items) {
  ++since_sync_;
  const uint64_t min_events = std::max<uint64_t>(256, items->size() / 64);
  if (since_sync_ < min_events) return;
  const auto moved = [](float served, float wanted) {
    return std::abs(wanted - served) > 0.02F * std::max(std::abs(served), 0.01F);
  };
  if (!moved(items->recency_weight(), blend.recency_weight()) &&
      !moved(items->short_recency_weight(), blend.short_recency_weight()) && since_sync_ < 32 * min_events) {
    return;
  }
  items->SetRecencyTerm(blend.recency_weight(), now.recency, blend.short_recency_weight(), now.short_recency);
  since_sync_ = 0;
}

}  // namespace streamrec::learner
