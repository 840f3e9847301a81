// ListAssembly: turns a user's ranked candidates into the final list: pinned
// and exploration items in their slots, the rest in score order under the
// per-category limit. Pure; used by the Emitter and tested on its own.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <vector>

#include "emitter/rules.h"
#include "emitter/topn.h"

namespace streamrec::emitter {

struct ListEntry {
  ItemId item;
  float score = 0.0F;
  Reason reason = Reason::kPersonal;
};

// An item forced into a 1-based slot (a pin, or the exploration pick).
struct SlottedItem {
  size_t slot = 1;
  ScoredItem item;
  Reason reason = Reason::kPinned;
};

struct AssemblyLimits {
  size_t top_n = 20;
  size_t max_per_category = 0;  // 0 = none
  // Category of an item, or -1 without one; null when there is no catalog.
  std::function<int64_t(ItemId)> category_of;
};

// `ranked`: eligible candidates, best first. `slotted`: at most one item per
// slot, earlier entries winning a contested slot; slotted items are not
// repeated from `ranked`. The list is shorter than top_n only when there are
// not enough candidates.
void AssembleList(const AssemblyLimits& limits, std::span<const ScoredItem> ranked,
                  std::span<const SlottedItem> slotted, std::vector<ListEntry>* out);

}  // namespace streamrec::emitter
