// ItemUpdateRecorder: internal to the learner. Sums, per item, what the events
// learned since the last Take changed on the item side (learner/item_updates.h),
// while the learner records them (Learner::RecordItemUpdates).
//
// Items are keyed by their slot while recorded and carry their external id
// from the first change on: a slot given to another item (Forget) starts a
// new entry, so the deltas stay with the item that made them.
// Memory: 4 bytes per item slot, plus the window's changed items and pairs.
// Thread-safety: none; the learner's thread owns it.
#pragma once

#include <cstdint>
#include <span>
#include <unordered_map>
#include <vector>

#include "common/ids.h"
#include "learner/item_table.h"
#include "learner/item_updates.h"

namespace streamrec::learner {

// The embeddings and biases of the items one SGD step changes, as they were
// before it: what the step changed (ItemUpdateRecorder::AfterStep), or a step
// that must teach the user alone (Restore).
class HeldItems {
 public:
  explicit HeldItems(size_t dim) : dim_(dim) {}
  void BeforeStep(const ItemTable& items, std::span<const ItemId> ids);
  // The i-th item's embedding (dim floats) then its bias.
  const float* held(size_t i) const { return &values_[i * (dim_ + 1)]; }
  // Puts the held values back.
  void Restore(ItemTable* items, std::span<const ItemId> ids) const;

 private:
  size_t dim_;
  std::vector<float> values_;  // (dim + 1) per item
};

class ItemUpdateRecorder {
 public:
  explicit ItemUpdateRecorder(size_t dim) : dim_(dim) {}

  // After one SGD step that changed the embeddings and biases of `ids`
  // (`before` held them): the change added to their deltas.
  void AfterStep(const ItemTable& items, std::span<const ItemId> ids, const HeldItems& before);
  // An event counted on `item` at `ts_ms` (its count and recency masses).
  void Event(const ItemTable& items, ItemId item, int64_t ts_ms, int64_t half_life_ms, int64_t short_half_life_ms);
  // A co-occurrence increment, counted both ways (basket: bought-together).
  void Pair(const ItemTable& items, ItemId a, ItemId b, float weight, bool basket);
  // The user keyed `user_key` (group-wide) met `item` at `ts_ms`: a step of
  // their session, in event order.
  void SessionStep(const ItemTable& items, uint64_t user_key, ItemId item, int64_t ts_ms);
  // Where the blend's steps on these events' outcomes are summed (OnlineBlend::Learn).
  BlendSteps* blend_steps() { return &pending_.blend; }
  // The slot's item is gone (another item takes it).
  void Forget(ItemId id);
  // The sums since the last call, replacing the contents of `out`; pairs in
  // a fixed order (by their items' indices).
  void Take(ItemUpdates* out);
  // About the bytes of their encoding (EncodeItemUpdates).
  size_t bytes() const { return bytes_; }

 private:
  static constexpr uint32_t kNone = UINT32_MAX;
  static constexpr size_t kItemBytes = 21;  // encoded: id length, events, masses, bias, flag
  static constexpr size_t kPairBytes = 12;
  uint32_t IndexOf(const ItemTable& items, ItemId id);

  size_t dim_;
  ItemUpdates pending_;
  std::vector<uint32_t> index_of_;  // per slot: its entry in pending_.items, or kNone
  std::vector<ItemId> indexed_;     // the slots with an entry (to reset index_of_)
  // Per unordered pair of entries (the smaller index in the high half): the summed weight.
  std::unordered_map<uint64_t, float> cooc_;
  std::unordered_map<uint64_t, float> basket_;
  size_t bytes_ = 0;
};

}  // namespace streamrec::learner
