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
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/flat_index.h"
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

  // A copy of the user as it is now, cached or stored, without caching it or
  // creating it: *found false when unknown (a look-up from outside, which
  // must not make users up).
  [[nodiscard]] Status Peek(std::string_view external_id, UserRecord* out, bool* found) const;

  // Starts loading what Acquire(external_id) will read first (a few users
  // ahead: a miss in a million users' index costs more than the lookup).
  void Prefetch(std::string_view external_id) const { index_.Prefetch(StringViewHash()(external_id)); }

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

  size_t size() const { return size_; }
  uint64_t hits() const { return hits_; }
  uint64_t misses() const { return misses_; }

 private:
  static constexpr uint32_t kNotSealed = UINT32_MAX;
  static constexpr uint32_t kNone = UINT32_MAX;
  // Entries live in chunks (stable addresses: touched() and the copies point
  // into them); an evicted entry's slot, and its record's storage, are reused.
  static constexpr uint32_t kChunkBits = 12;
  static constexpr uint32_t kChunk = 1U << kChunkBits;

  struct Entry {
    std::string external_id;
    UserRecord record;
    uint64_t hash = 0;
    uint32_t newer = kNone;  // least-recently-used list: towards the most recent
    uint32_t older = kNone;
    uint64_t batch = 0;                 // last batch that touched it
    uint32_t touched_index = 0;         // its place in touched_ during that batch
    uint32_t sealed_slot = kNotSealed;  // its copy's place in copies_ while not copied
  };

  Entry& At(uint32_t slot) { return chunks_[slot >> kChunkBits][slot & (kChunk - 1)]; }
  const Entry& At(uint32_t slot) const { return chunks_[slot >> kChunkBits][slot & (kChunk - 1)]; }
  // A free slot for `external_id` (not yet indexed nor in the recency list).
  uint32_t NewEntry(std::string_view external_id, uint64_t hash);
  void FreeEntry(uint32_t slot);
  void Unlink(uint32_t slot);
  void LinkFront(uint32_t slot);
  void CopyOut(Entry* entry);

  Store* store_;
  size_t capacity_;
  uint64_t batch_ = 1;
  std::vector<std::unique_ptr<Entry[]>> chunks_;
  uint32_t next_unused_ = 0;     // slots before it were handed out at least once
  std::vector<uint32_t> free_;   // evicted slots
  FlatIndex index_;              // external id -> slot
  size_t size_ = 0;
  uint32_t most_recent_ = kNone;
  uint32_t least_recent_ = kNone;
  std::vector<CachedUser> touched_;
  std::vector<Entry*> touched_entries_;  // the same users' entries
  std::vector<Entry*> sealed_;           // the last SealForCopy's users
  std::vector<UserCopy> copies_;         // their records as sealed
  size_t copy_cursor_ = 0;               // sealed_ before it were copied
  size_t copies_left_ = 0;
  uint64_t hits_ = 0;
  uint64_t misses_ = 0;
};

}  // namespace streamrec::store
