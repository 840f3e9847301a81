#include "learner/item_update_recorder.h"

#include <algorithm>
#include <utility>

namespace streamrec::learner {

uint32_t ItemUpdateRecorder::IndexOf(const ItemTable& items, ItemId id) {
  if (id.value() >= index_of_.size()) index_of_.resize(items.size(), kNone);
  uint32_t& index = index_of_[id.value()];
  if (index == kNone) {
    index = static_cast<uint32_t>(pending_.items.size());
    pending_.items.emplace_back().external_id = items.external_id(id);
    indexed_.push_back(id);
    bytes_ += kItemBytes + items.external_id(id).size();
  }
  return index;
}

void HeldItems::BeforeStep(const ItemTable& items, std::span<const ItemId> ids) {
  values_.resize(ids.size() * (dim_ + 1));
  for (size_t i = 0; i < ids.size(); ++i) {
    const float* e = items.embedding(ids[i]);
    std::copy(e, e + dim_, values_.begin() + static_cast<std::ptrdiff_t>(i * (dim_ + 1)));
    values_[i * (dim_ + 1) + dim_] = items.bias(ids[i]);
  }
}

void HeldItems::Restore(ItemTable* items, std::span<const ItemId> ids) const {
  for (size_t i = 0; i < ids.size(); ++i) {
    std::copy(held(i), held(i) + dim_, items->embedding(ids[i]));
    *items->bias(ids[i]) = held(i)[dim_];
    items->BiasWritten(ids[i]);
  }
}

void ItemUpdateRecorder::AfterStep(const ItemTable& items, std::span<const ItemId> ids, const HeldItems& before) {
  for (size_t i = 0; i < ids.size(); ++i) {
    ItemUpdates::Item& entry = pending_.items[IndexOf(items, ids[i])];
    if (entry.embedding_delta.empty()) {
      entry.embedding_delta.assign(dim_, 0.0F);
      bytes_ += dim_ * sizeof(float);
    }
    const float* e = items.embedding(ids[i]);
    const float* was = before.held(i);
    for (size_t d = 0; d < dim_; ++d) entry.embedding_delta[d] += e[d] - was[d];
    entry.bias_delta += items.bias(ids[i]) - was[dim_];
  }
}

void ItemUpdateRecorder::Event(const ItemTable& items, ItemId item, int64_t ts_ms, int64_t half_life_ms,
                               int64_t short_half_life_ms) {
  ItemUpdates::Item& entry = pending_.items[IndexOf(items, item)];
  ++entry.events;
  entry.recency = ItemTable::Log2Add(entry.recency, static_cast<double>(ts_ms) / static_cast<double>(half_life_ms));
  entry.short_recency =
      ItemTable::Log2Add(entry.short_recency, static_cast<double>(ts_ms) / static_cast<double>(short_half_life_ms));
}

void ItemUpdateRecorder::Pair(const ItemTable& items, ItemId a, ItemId b, float weight, bool basket) {
  uint64_t x = IndexOf(items, a);
  uint64_t y = IndexOf(items, b);
  if (x > y) std::swap(x, y);
  auto [it, added] = (basket ? basket_ : cooc_).try_emplace((x << 32) | y, 0.0F);
  it->second += weight;
  if (added) bytes_ += kPairBytes;
}

void ItemUpdateRecorder::SessionStep(const ItemTable& items, uint64_t user_key, ItemId item, int64_t ts_ms) {
  pending_.sessions.push_back({user_key, IndexOf(items, item), ts_ms});
  bytes_ += ItemUpdates::SessionStep::kEncodedBytes;
}

void ItemUpdateRecorder::Forget(ItemId id) {
  if (id.value() < index_of_.size()) index_of_[id.value()] = kNone;
}

void ItemUpdateRecorder::Take(ItemUpdates* out) {
  const auto move_pairs = [](std::unordered_map<uint64_t, float>* from, std::vector<ItemUpdates::Pair>* to) {
    to->clear();
    to->reserve(from->size());
    for (const auto& [key, weight] : *from) {
      to->push_back({static_cast<uint32_t>(key >> 32), static_cast<uint32_t>(key), weight});
    }
    std::sort(to->begin(), to->end(), [](const ItemUpdates::Pair& p, const ItemUpdates::Pair& q) {
      return p.a != q.a ? p.a < q.a : p.b < q.b;
    });
    from->clear();
  };
  move_pairs(&cooc_, &pending_.cooc);
  move_pairs(&basket_, &pending_.basket);
  for (ItemId id : indexed_) {
    if (id.value() < index_of_.size()) index_of_[id.value()] = kNone;
  }
  indexed_.clear();
  bytes_ = 0;
  out->clear();
  std::swap(*out, pending_);
}

}  // namespace streamrec::learner
