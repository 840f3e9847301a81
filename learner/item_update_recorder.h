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

class ItemUpdateRecorder {
 public:
  explicit ItemUpdateRecorder(size_t dim) : dim_(dim) {}

  bool on() const { return on_; }
  void set_on(bool on) { on_ = on; }

  // Around one SGD step that changes the embeddings and biases of `ids`:
  // their values before, then the change added to their deltas.
  void BeforeStep(const ItemTable& items, std::span<const ItemId> ids);
  void AfterStep(const ItemTable& items, std::span<const ItemId> ids);
  // An event counted on `item` at `ts_ms` (its count and recency masses).
  void Event(const ItemTable& items, ItemId item, int64_t ts_ms, int64_t half_life_ms, int64_t short_half_life_ms);
  // A co-occurrence increment, counted both ways (basket: bought-together).
  void Pair(const ItemTable& items, ItemId a, ItemId b, float weight, bool basket);
  // The slot's item is gone (another item takes it).
  void Forget(ItemId id);
  // The sums since the last call, replacing the contents of `out`; pairs in
  // a fixed order (by their items' indices).
  void Take(ItemUpdates* out);

 private:
  static constexpr uint32_t kNone = UINT32_MAX;
  uint32_t IndexOf(const ItemTable& items, ItemId id);

  size_t dim_;
  bool on_ = false;
  ItemUpdates pending_;
  std::vector<uint32_t> index_of_;  // per slot: its entry in pending_.items, or kNone
  std::vector<ItemId> indexed_;     // the slots with an entry (to reset index_of_)
  // Per unordered pair of entries (the smaller index in the high half): the summed weight.
  std::unordered_map<uint64_t, float> cooc_;
  std::unordered_map<uint64_t, float> basket_;
  std::vector<float> before_;  // scratch: (dim + 1) per stepped item
};

}  // namespace streamrec::learner
