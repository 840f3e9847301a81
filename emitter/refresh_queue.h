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
#include <unordered_map>
#include <vector>

#include "common/hash.h"

namespace streamrec::emitter {

struct DueList {
  std::string user;
  int32_t partition = 0;
  int64_t source_offset = -1;  // the latest event the list reflects; -1: none
  int64_t since_ms = 0;        // when the user became owed a list
};

class RefreshQueue {
 public:
  explicit RefreshQueue(int64_t min_interval_ms);

  // Owes `user` a list that reflects `source_offset` (-1: no event, e.g. a
  // catalog change). Returns the pending entry as it now stands.
  const DueList& Mark(std::string_view user, int32_t partition, int64_t source_offset, int64_t now_ms);

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
  struct Entry {
    DueList due;
    int64_t due_ms = 0;
    int64_t refreshed_ms = INT64_MIN;  // last refresh, for the interval
    uint64_t generation = 0;           // matches the heap slot that is live
    bool owed = false;
  };
  // Lookups by string_view, without building a string per Mark.
  struct Slot {
    int64_t due_ms;
    uint64_t generation;
    std::string user;
    bool operator>(const Slot& o) const { return due_ms > o.due_ms; }
  };
  // Drops heap slots whose entry was taken, dropped or re-queued.
  void SkipStale();
  void ForgetRefreshedBefore(int64_t cutoff_ms);

  int64_t min_interval_ms_;
  uint64_t next_generation_ = 1;
  size_t pending_ = 0;
  std::unordered_map<std::string, Entry, StringViewHash, std::equal_to<>> entries_;
  std::priority_queue<Slot, std::vector<Slot>, std::greater<>> heap_;
  std::deque<std::pair<int64_t, std::string>> refreshed_;  // in refresh order, to forget them
};

}  // namespace streamrec::emitter
