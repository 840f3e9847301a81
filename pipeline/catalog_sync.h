// CatalogSync: keeps the catalog in step with the catalog topic and the store,
// and finds the lists a catalog change makes wrong.
//
// A catalog entry for an item the model has never seen adds the item at once,
// starting from the mean embedding of its category's items (of the latest 256,
// those with events: Learner::InternItemLike), so it can be listed before anyone touches it. When an item stops being
// available (out of stock, withdrawn, window ended), the users whose current
// list holds it are read from the store's reverse index and handed to the
// pipeline for a refresh, a bounded number per batch. The reverse index is
// the persisted to-do list: a user leaves it only when a refreshed list
// without the item commits, so a crash in between loses no refresh.
//
// Thread-safety: one thread (the pipeline's).
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "catalog/catalog.h"
#include "common/catalog.h"
#include "common/status.h"
#include "learner/learner.h"
#include "store/store.h"

namespace streamrec::pipeline {

// A user to refresh because their list holds an item that is no longer available.
struct StaleHolder {
  std::string user;
  int32_t partition = 0;
  ItemId item;
};

class CatalogSync {
 public:
  // Both must outlive the CatalogSync.
  CatalogSync(learner::Learner* learner, store::Store* store) : learner_(learner), store_(store) {}

  // Loads the stored catalog (after the items) and queues every unavailable
  // item, in case lists holding it were not refreshed before a stop.
  [[nodiscard]] Status Load(int64_t now_ms);

  // Applies a batch's updates; appends what the store must keep to `records`.
  void Apply(std::span<const CatalogUpdate> updates, int64_t now_ms, std::vector<store::CatalogRecord>* records);
  // Moves time on: items whose availability window ended are queued.
  void Advance(int64_t now_ms);

  // Up to `max` holders of queued items in partitions for which `owned` is
  // true. An item leaves the queue once no owned holder is left (or it is
  // available again).
  [[nodiscard]] Status TakeStaleHolders(const std::function<bool(int32_t)>& owned, size_t max,
                                        std::vector<StaleHolder>* out);

  // Items that stopped being available since the last call.
  void TakeWithdrawn(std::vector<ItemId>* out) { out->swap(withdrawn_); withdrawn_.clear(); }

  bool has_stale() const { return !stale_.empty(); }
  const catalog::Catalog& catalog() const { return catalog_; }

 private:
  void Queue(ItemId item);
  // A catalog item the learner had no slot for (more catalog items than learner.max_items).
  void Refused(std::string_view item);

  learner::Learner* learner_;
  store::Store* store_;
  catalog::Catalog catalog_;
  std::deque<ItemId> stale_;  // unavailable items whose holders may still need a refresh
  std::vector<bool> queued_;  // per item: in stale_
  std::vector<ItemId> withdrawn_;
  std::vector<ItemId> ended_;
  uint64_t refused_ = 0;
};

}  // namespace streamrec::pipeline
