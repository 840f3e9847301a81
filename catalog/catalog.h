// Catalog: the shop's item attributes in memory, indexed by the learner's
// dense ItemId, and what follows from them: which items may be recommended
// now, which category an item is in, which items arrived recently.
//
// An item that never had a catalog entry is available (shops without a
// catalog lose nothing). An entry makes it available while in stock and
// inside [available_from, available_until); a tombstone withdraws it.
// Availability windows are tracked with a timer heap, so Advance() reports an
// item the moment its window ends, without scanning the catalog.
//
// Memory: one CatalogEntry (~150 bytes with short strings) per item with an
// entry, plus 8 bytes per known item.
// Thread-safety: none; one thread (the pipeline's) owns a Catalog.
#pragma once

#include <cstdint>
#include <deque>
#include <optional>
#include <queue>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "common/catalog.h"
#include "common/ids.h"

namespace streamrec::catalog {

// Dense ids of category, brand and tag strings.
using CategoryId = StrongId<struct CategoryIdTag, uint32_t>;
using LabelId = StrongId<struct LabelIdTag, uint32_t>;

struct ApplyOutcome {
  bool became_unavailable = false;  // it was recommendable and is not any more
  bool first_entry = false;         // the item had no entry before
};

// A catalog item that arrived recently (exploration candidates).
struct Arrival {
  ItemId item;
  int64_t at_ms = 0;  // wall time the entry first arrived
};

class Catalog {
 public:
  // Applies one entry or tombstone for `item` at wall time `now_ms`.
  // `first_seen_ms` (restart) overrides the arrival time of a first entry.
  ApplyOutcome Apply(ItemId item, const CatalogUpdate& update, int64_t now_ms,
                     std::optional<int64_t> first_seen_ms = std::nullopt);

  // Moves time forward: items whose window ended or started at or before
  // `now_ms` change availability; those that ended are appended to `ended`.
  void Advance(int64_t now_ms, std::vector<ItemId>* ended);

  bool Available(ItemId item) const;
  // The item has, or had, a catalog entry (it can stop being available).
  bool Tracks(ItemId item) const;
  const CatalogEntry* Entry(ItemId item) const;  // nullptr without an entry (or after a tombstone)
  int64_t FirstSeen(ItemId item) const;          // kNoTime without an entry
  std::optional<CategoryId> CategoryOf(ItemId item) const;
  std::optional<CategoryId> FindCategory(std::string_view name) const;
  const std::string& CategoryName(CategoryId id) const;
  size_t category_count() const { return category_names_.size(); }
  // Items with an entry in `category`, in arrival order (withdrawn ones included).
  std::span<const ItemId> ItemsIn(CategoryId category) const;
  // Brand and tag ids of an item with an entry (brand first, when set).
  std::optional<LabelId> FindLabel(std::string_view name) const;
  std::span<const LabelId> LabelsOf(ItemId item) const;

  // The most recent first entries, oldest first (at most kMaxArrivals).
  const std::deque<Arrival>& arrivals() const { return arrivals_; }
  // Grows on every change that can alter a list (entry, tombstone, window edge).
  uint64_t version() const { return version_; }
  size_t entries() const { return entry_count_; }

  static constexpr size_t kMaxArrivals = 4096;

 private:
  struct Slot {
    std::optional<CatalogEntry> entry;
    bool withdrawn = false;
    bool available = true;
    int64_t first_seen_ms = kNoTime;
    std::optional<CategoryId> category;
    std::vector<LabelId> labels;  // brand and tags, as "brand:<b>" and "tag:<t>"
  };

  Slot& SlotFor(ItemId item);
  const Slot* Find(ItemId item) const;
  CategoryId InternCategory(const std::string& name);
  LabelId InternLabel(const std::string& name);
  void Schedule(ItemId item, const CatalogEntry& e, int64_t now_ms);
  void Reindex(ItemId item, Slot* slot);

  std::vector<Slot> slots_;
  std::vector<std::string> category_names_;
  std::unordered_map<std::string, CategoryId> categories_;
  std::vector<std::vector<ItemId>> category_items_;
  std::unordered_map<std::string, LabelId> labels_;
  std::deque<Arrival> arrivals_;
  // (time, item) of upcoming window edges; stale entries are skipped.
  std::priority_queue<std::pair<int64_t, uint32_t>, std::vector<std::pair<int64_t, uint32_t>>, std::greater<>> timers_;
  int64_t now_ms_ = 0;
  uint64_t version_ = 0;
  size_t entry_count_ = 0;
};

}  // namespace streamrec::catalog
