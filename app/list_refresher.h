// ListRefresher: which users are owed a list, persisted with the state, and
// the refresh of the due ones within a time budget (lists off the commit's
// critical path: events never wait for a list).
//
// Per batch: Owe() every user the batch changed; RefreshDue() publishes the
// lists of due users until its deadline. At each commit (of one or more
// batches) changes() (owed and delivered users, in order) go with the state,
// then Committed(). A crash before the commit replays the events and owes the
// lists again; after it, the owed set is in the store and Restore() brings a
// partition's back on assignment. Lists are at-least-once, the pending set
// exactly-once.
//
// Thread-safety: none; the pipeline's thread.
#pragma once

#include <chrono>
#include <deque>
#include <functional>
#include <span>
#include <string_view>
#include <vector>

#include "common/state.h"
#include "common/status.h"
#include "emitter/emitter.h"
#include "emitter/refresh_queue.h"
#include "store/store.h"

namespace streamrec::app {

class ListRefresher {
 public:
  using Clock = std::chrono::steady_clock;
  // The user's record, acquired for this batch; `user_id` stays valid until it commits.
  struct Target {
    std::string_view user_id;
    UserRecord* record = nullptr;
  };
  using AcquireFn = std::function<Status(const emitter::DueList& due, Target* out)>;
  using PublishFn = std::function<Status(std::span<const emitter::ListRequest> requests)>;

  explicit ListRefresher(const emitter::EmitterOptions& options);

  // `user` must stay valid until the batch commits.
  void Owe(std::string_view user, int32_t partition, int64_t source_offset, int64_t now_ms);
  // Brings back the users of `partition` owed a list when it was last owned
  // here; *restored = how many.
  [[nodiscard]] Status Restore(store::Store* store, int32_t partition, int64_t now_ms, size_t* restored);
  // The partition was revoked: its owed users stay persisted, not in memory.
  void Drop(int32_t partition) { queue_.DropPartition(partition); }

  // Publishes the lists of due users, a chunk at a time, until none is due or
  // `deadline` passes (at least one chunk when any is due).
  [[nodiscard]] Status RefreshDue(int64_t now_ms, Clock::time_point deadline, const AcquireFn& acquire,
                                  const PublishFn& publish);
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
  size_t chunk_;
  std::vector<PendingListChange> changes_;
  std::deque<emitter::DueList> taken_;  // a deque: changes_ holds views into it
  std::vector<emitter::DueList> due_;
  std::vector<emitter::ListRequest> requests_;
};

}  // namespace streamrec::app
