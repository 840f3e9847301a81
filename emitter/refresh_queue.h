// RefreshQueue: the users owed a list refresh, each at most once.
//
// The pipeline marks every user an event (or a catalog change) touched; the
// emitter takes the users that are due and refreshes them when it has time.
// Events that arrive for a user already owed a list are coalesced into that
// one refresh (latest state wins: the list is computed when taken, from the
// user's state then). A user is refreshed at most once per
// `min_interval_ms`: a user marked again sooner becomes due when the interval
// has passed. The caller persists marks and deliveries with the state (see
// PendingListChange), so the set survives a crash.
//
// Memory: one entry (~100 bytes) per owed user, plus one per user refreshed
// within the last `min_interval_ms`.
// Thread-safety: none; one thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <queue>
#include <string>
#include <string_view>
#include <vector>

#include "common/flat_index.h"
#include "common/hash.h"

namespace streamrec::emitter {

struct DueList {
  std::string user;
  int32_t partition = 0;
  int64_t source_offset = -1;  // the latest event the list reflects; -1: none
  int64_t since_ms = 0;        // when the user became owed a list
  // For the latency breakdown (not persisted), ms since the epoch, -1 when
  // unknown: the broker timestamp of the oldest event the list owes, and
  // when that event was consumed.
  int64_t event_ms = -1;
  int64_t consumed_ms = -1;
};

class RefreshQueue {
 public:
  explicit RefreshQueue(int64_t min_interval_ms);

  // Owes `user` a list that reflects `source_offset` (-1: no event, e.g. a
  // catalog change). Returns the pending entry as it now stands (valid until
  // the next call).
  // `event_ms`, `consumed_ms`: see DueList; the oldest event's are kept.
  const DueList& Mark(std::string_view user, int32_t partition, int64_t source_offset, int64_t now_ms,
                      int64_t event_ms = -1, int64_t consumed_ms = -1);

  // Starts loading what Mark(user, ...) will read first.
  void Prefetch(std::string_view user) const { index_.Prefetch(StringViewHash()(user)); }

  // Moves up to `max` users due at `now_ms` to `out` (appended, earliest due
  // first); they stop being owed until marked again.
  void TakeDue(int64_t now_ms, size_t max, std::vector<DueList>* out);

  // Forgets the users owed of `partition` (it was revoked; they stay persisted).
  void DropPartition(int32_t partition);

  size_t pending() const { return pending_; }
  // How long past its due time the most overdue list is, ms (0: none overdue).
  int64_t LagMs(int64_t now_ms);
  bool HasDue(int64_t now_ms);

 private:
  // Entries are slots of entries_, found through index_ by user; a freed
  // slot is reused. The heap and the refresh log name slots, not users: a
  // stale heap slot is told by its generation (unique per Mark that owes).
  struct Entry {
    DueList due;  // due.user is the key
    uint64_t hash = 0;
    int64_t due_ms = 0;
    int64_t refreshed_ms = INT64_MIN;  // last refresh, for the interval
    uint64_t generation = 0;           // matches the heap slot that is live
    bool owed = false;
    bool live = false;  // the slot holds a user
  };
  struct Slot {
    int64_t due_ms;
    uint64_t generation;
    uint32_t entry;
    bool operator>(const Slot& o) const { return due_ms > o.due_ms; }
  };
  uint32_t FindOrAdd(std::string_view user);
  void Forget(uint32_t entry);
  // Drops heap slots whose entry was taken, dropped or re-queued.
  void SkipStale();
  void ForgetRefreshedBefore(int64_t cutoff_ms);

  int64_t min_interval_ms_;
  uint64_t next_generation_ = 1;
  size_t pending_ = 0;
  std::vector<Entry> entries_;
  std::vector<uint32_t> free_;
  FlatIndex index_;  // user -> entry
  std::priority_queue<Slot, std::vector<Slot>, std::greater<>> heap_;
  std::deque<std::pair<int64_t, uint32_t>> refreshed_;  // (when, entry) in refresh order, to forget them
};

}  // namespace streamrec::emitter
