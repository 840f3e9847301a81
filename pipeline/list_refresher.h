// ListRefresher: which users are owed a list, persisted with the state, and
// the refresh of the due ones within a time budget (lists off the commit's
// critical path: events never wait for a list).
//
// Per batch: Owe() every user the batch changed; Take() hands out due users
// for the emitter, whose lists must be published before the next commit. At
// each commit (of one or more
// batches) changes() (owed and delivered users, in order) go with the state,
// then Committed(). A crash before the commit replays the events and owes the
// lists again; after it, the owed set is in the store and Restore() brings a
// partition's back on assignment. Lists are at-least-once, the pending set
// exactly-once.
//
// Thread-safety: none; the pipeline's thread.
#pragma once

#include <deque>
#include <functional>
#include <string_view>
#include <vector>

#include "common/state.h"
#include "common/status.h"
#include "emitter/emitter.h"
#include "emitter/refresh_queue.h"
#include "store/store.h"

namespace streamrec::pipeline {

class ListRefresher {
 public:
  // The user's record, acquired for this batch; `user_id` stays valid until it commits.
  struct Target {
    std::string_view user_id;
    UserRecord* record = nullptr;
  };
  using AcquireFn = std::function<Status(const emitter::DueList& due, Target* out)>;

  explicit ListRefresher(const emitter::EmitterOptions& options);

  // `user` must stay valid until the batch commits. `event_ms`,
  // `consumed_ms`: the event's broker timestamp and when it was consumed
  // (emitter::DueList), for the latency breakdown.
  void Owe(std::string_view user, int32_t partition, int64_t source_offset, int64_t now_ms, int64_t event_ms = -1,
           int64_t consumed_ms = -1);
  // Starts loading what Owe(user, ...) will read first.
  void Prefetch(std::string_view user) const { queue_.Prefetch(user); }
  // Brings back the users of `partition` owed a list when it was last owned
  // here; *restored = how many.
  [[nodiscard]] Status Restore(store::Store* store, int32_t partition, int64_t now_ms, size_t* restored);
  // The partition was revoked: its owed users stay persisted, not in memory.
  void Drop(int32_t partition) { queue_.DropPartition(partition); }

  // Up to `max` due users, acquired, as requests in *out (replaced); they
  // count as delivered at the next commit, so their lists must be published
  // (and flushed) before it.
  [[nodiscard]] Status Take(int64_t now_ms, size_t max, const AcquireFn& acquire,
                            std::vector<emitter::ListRequest>* out);
  // When the users of the last Take() were owed and their oldest owed
  // event's times (emitter::DueList), in the order of its requests: for the
  // latency breakdown.
  struct TakenTimes {
    int64_t since_ms = 0;
    int64_t event_ms = -1;
    int64_t consumed_ms = -1;
  };
  const std::vector<TakenTimes>& last_taken() const { return taken_times_; }
  // The lists since the last commit were not all delivered: owed again.
  void OweAgain(int64_t now_ms);

  // Owed and delivered users since the last commit, in order, for the next one.
  const std::vector<PendingListChange>& changes() const { return changes_; }
  size_t lists_since_commit() const { return taken_.size(); }
  // After changes() committed.
  void Committed();

  size_t pending() const { return queue_.pending(); }
  // Users that may still be owed before the pending set is full.
  size_t room() const { return pending() >= max_pending_ ? 0 : max_pending_ - pending(); }
  bool HasDue(int64_t now_ms) { return queue_.HasDue(now_ms); }
  int64_t LagMs(int64_t now_ms) { return queue_.LagMs(now_ms); }

 private:
  emitter::RefreshQueue queue_;
  size_t max_pending_;
  std::vector<PendingListChange> changes_;
  std::deque<emitter::DueList> taken_;  // a deque: changes_ holds views into it
  std::vector<emitter::DueList> due_;
  std::vector<TakenTimes> taken_times_;
};

}  // namespace streamrec::pipeline
