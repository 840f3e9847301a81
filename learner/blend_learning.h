// BlendLearning: feeds the learner's OnlineBlend its outcomes and keeps the
// items' served terms in step with its recency weight. Internal to the learner.
//
// Per event of a known user on an item new to them, with an item that has
// events (no component can rank an item nobody touched), when the user was
// served a full list: the item's component scores against those of one item
// of that list (UserRecord::list_reference, at a position drawn by
// common/list_reference.h). Costs two dot products and
// two binary searches per recent item's row.
// Thread-safety: none; the learner's thread.
#pragma once

#include <cstdint>
#include <vector>

#include "common/ids.h"
#include "common/state.h"
#include "learner/blend.h"
#include "learner/item_table.h"
#include "learner/options.h"
#include "learner/session_neighbors.h"

namespace streamrec::learner {

class BlendLearning {
 public:
  // The clock of each recency term: event time / its half-life.
  struct Now {
    double recency = 0.0;
    double short_recency = 0.0;
  };
  static Now At(int64_t ts_ms, const LearnerOptions& options);

  // Before the learner learns (user, item) at `now`: one step of the blend
  // when the user was served a full list (list_reference) and the item is new
  // to them and has events.
  // The session neighbours' scores come from `sessions` (ScoreItems). With
  // `record`, the step is summed there too (the item updates another
  // instance applies).
  void Learn(const UserRecord& user, ItemId item, Now now, const ItemTable& items, const LearnerOptions& options,
             SessionNeighbors* sessions, OnlineBlend* blend, BlendSteps* record = nullptr);
  // After: when a recency weight moved enough since the items' terms were
  // last recomputed (or the clock did), recomputes them: O(items), at most
  // once per max(256, items / 64) events.
  void SyncTerms(Now now, const OnlineBlend& blend, ItemTable* items);

 private:
  BlendFeatures Features(const UserRecord& user, ItemId c, Now now, const ItemTable& items,
                         const LearnerOptions& options) const;

  uint64_t since_sync_ = 0;
};

}  // namespace streamrec::learner
