// UserCache: the hot working set of user records, bounded, backed by the Store.
//
// A micro-batch Acquire()s the users it touches (loading them from the store
// on a miss); the caller hands touched() to the store and SealBatch()es it;
// once that write is done, Evict() drops least-recently-used users beyond
// `capacity`. Only written (clean) records are ever evicted, so eviction
// never loses state, and a user is never read back while its write is in
// flight.
//
// Or, so that the batch's records need not be encoded at once (a stop of the
// caller's thread), SealForCopy() instead of SealBatch(): the records as they
// are at that moment are copied for the write, each before Acquire() hands it
// out again, the rest by CopySealed() a slice at a time; TakeSealed() gives
// the copies to be written (PreparedCommit::DeferUsers).
//
// Memory: about (dim * 4 + history * 4 + 150) bytes per cached user, and as
// much again per sealed user while its copy is kept (two commits' worth: the
// one being copied, the one being written).
// Thread-safety: none; one thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <list>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/hash.h"
#include "common/state.h"
#include "common/status.h"
#include "store/store.h"

namespace streamrec::store {

struct CachedUser {
  std::string_view external_id;  // valid while the user stays cached
  UserRecord* record = nullptr;
  bool is_new = false;  // not in the store: the caller must initialise *record
  uint32_t touched_index = 0;  // its place in touched(), until the batch is sealed
};

class UserCache {
 public:
  // `store` must outlive the cache. `capacity` >= 1 users.
  UserCache(Store* store, size_t capacity);

  // The cached user, loaded or created empty; adds it to touched() once per batch.
  [[nodiscard]] Status Acquire(std::string_view external_id, CachedUser* out);

  // Users acquired since the last SealBatch(), in first-touch order.
  const std::vector<CachedUser>& touched() const { return touched_; }

  // touched() was handed to the store: starts the next batch. Returns the
  // sealed batch's number, for Evict() once its write is done.
  uint64_t SealBatch();
  // SealBatch(), keeping the sealed users' records as they are now (see the
  // header comment). Precondition: the last sealing's copies were taken.
  uint64_t SealForCopy();
  // Copies up to `max` sealed users not copied yet; true once all are.
  bool CopySealed(size_t max);
  // Swaps the copies into *out (its records' storage is filled by the next
  // sealing). Precondition: CopySealed() returned true.
  void TakeSealed(std::vector<UserCopy>* out);
  // Takes records back whose storage the next sealing fills (*records is left
  // empty): copying into them allocates nothing.
  void ReturnCopies(std::vector<UserCopy>* records);
  // Every batch up to `written` is in the store: evicts down to capacity
  // (users touched by a later batch stay, however many).
  void Evict(uint64_t written);
  // SealBatch() and Evict() at once, for a caller that writes synchronously.
  void EndBatch() { Evict(SealBatch()); }

  // Drops every cached user (after a failed commit the cache may be ahead of
  // the store); sealed users are copied first.
  void Clear();

  size_t size() const { return entries_.size(); }
  uint64_t hits() const { return hits_; }
  uint64_t misses() const { return misses_; }

 private:
  static constexpr uint32_t kNotSealed = UINT32_MAX;

  struct Entry {
    UserRecord record;
    std::list<std::string_view>::iterator lru;  // position in lru_
    uint64_t batch = 0;                         // last batch that touched it
    uint32_t touched_index = 0;                 // its place in touched_ during that batch
    uint32_t sealed_slot = kNotSealed;          // its copy's place in copies_ while not copied
  };

  void CopyOut(Entry* entry);

  Store* store_;
  size_t capacity_;
  uint64_t batch_ = 1;
  std::unordered_map<std::string, Entry, StringViewHash, std::equal_to<>> entries_;
  std::list<std::string_view> lru_;  // most recent first; views into entries_ keys
  std::vector<CachedUser> touched_;
  std::vector<Entry*> touched_entries_;  // the same users' entries (nodes: stable)
  std::vector<Entry*> sealed_;           // the last SealForCopy's users
  std::vector<UserCopy> copies_;         // their records as sealed
  size_t copy_cursor_ = 0;               // sealed_ before it were copied
  size_t copies_left_ = 0;
  uint64_t hits_ = 0;
  uint64_t misses_ = 0;
};

}  // namespace streamrec::store
