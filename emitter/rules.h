// Business rules applied to every list: exclusions, boosts and burials by
// catalog label, pinned items, a per-category limit and an exploration slot
// for new items. Part of the configuration (section `rules`), reloadable
// while running (Emitter::SetRules).
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>

#include "common/state.h"
#include "common/status.h"

namespace streamrec::emitter {

struct ListRules {
  // Never list an item the user bought (even when exclude_interacted is off). Default true.
  bool exclude_purchased = true;
  // Label -> weight added to the score of every item carrying it. Labels are
  // "category:<c>", "brand:<b>" or "tag:<t>" (catalog attributes); a positive
  // weight boosts (reason "boosted"), a negative one buries, -.inf hides the
  // items altogether. Weights are in the units of the published scores, the
  // learned blend's (learner/blend.h), whatever weights it learned. Scores
  // rank within one list (they carry a recency offset that drifts): on the
  // shared logs a list's 1st and 20th items are 2.3-6.2 apart (median) and
  // neighbours 0.06-0.07 (docs/QUALITY.md, "The scale of published scores"),
  // so weights of 0.1..2 are gentle..strong.
  std::map<std::string, float> boost;
  // Item id -> 1-based slot: the item is placed there (reason "pinned") when
  // it is available and not excluded for the user. Slots must be <= top_n.
  std::map<std::string, size_t> pins;
  // At most this many items of one catalog category per list; 0 = no limit.
  size_t max_per_category = 0;
  // 1-based slot kept for a new catalog item (reason "new"); 0 = off; past
  // the list's length, its last slot. Default 10: a new in-stock item reaches
  // lists before anyone clicked it, at the price of one slot of 20 (the
  // 20th item falls off: about 1-3 % of recall@20, docs/QUALITY.md). Only a
  // shop that publishes a catalog has new items; without one the slot is
  // never used. The item is the user's best-scoring one among the newest
  // arrivals (32 in all) of the categories of their recent history (of any
  // category when they have none): a catalogue loaded at once, every item of
  // it new for a week, costs each list a few dot products.
  size_t exploration_slot = 10;
  // A catalog item is "new" while younger than this (since its first catalog
  // entry) and with at most new_item_max_events events. Defaults 7 days, 10.
  int64_t new_item_max_age_s = 7 * 86400;
  uint64_t new_item_max_events = 10;
  // A user with fewer events than this, and whose items have no co-occurrence
  // yet (so the personal model has nothing to go on), gets trending items of
  // the categories of their history, then overall (reason "trending").
  // Default 3; 0 = never.
  uint64_t personal_min_events = 3;

  // `top_n`: the list length the slots must fit in.
  [[nodiscard]] Status Validate(size_t top_n) const;
  bool operator==(const ListRules&) const = default;
};

// Why an item is in a list (the "reason" of each list entry): common/state.h.
using Reason = ListReason;

}  // namespace streamrec::emitter
