// Store: streamrec's durable state in RocksDB.
//
// Column families: user_embeddings (key: user id string; value: dense UserId,
// seq, event count, embedding, then the user's item lists: history, purchases,
// current list, basket; then the list's reference item and the user's events
// partition), user_history (read only: where stores written before commit
// 3b83dba kept those lists; a user written since has all in one record, one
// key to insert per user), item_embeddings (key: big-endian ItemId; value:
// external id, bias, count, embedding), item_neighbors (same key; value: the
// item's co-occurrence rows, written only when they changed: most changed
// items are negatives, whose rows did not; before 2026-11-24 the rows were part of
// the item_embeddings value, and LoadItems moves such rows here), catalog (key: item id string; value:
// the item's catalog entry or withdrawal), list_holders (key: big-endian
// ItemId + user id; value: the user's partition: which users' current lists
// hold an item), pending_lists (key: big-endian partition + user id; value:
// source offset, since: users owed a list refresh), item_sessions (key: big-endian slot; value: a
// session of the learner's session-neighbour component) and meta (consumed offsets, counters).
//
// Exactly-once: Commit() writes a micro-batch's state *and* the offsets it
// consumed in one WriteBatch, so after any crash the stored offsets describe
// exactly the stored state.
//
// Thread-safety: Commit/Write from one thread at a time; Get*/Load* from one
// thread at a time, which may run alongside a Write (see Write);
// Summarize() only on a store no one writes to.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/catalog.h"
#include "common/state.h"
#include "common/status.h"

namespace streamrec::store {

// Fault injection for tests: while `fail_writes` is set, every file write of
// the store fails as a full disk would ("No space left on device").
struct StoreFaults {
  std::atomic<bool> fail_writes{false};
};

struct StoreOptions {
  std::string path = "streamrec-data";
  // fsync the WAL on every commit. Default false: a process crash loses
  // nothing either way (the WAL is in the OS cache); a power loss may lose the
  // newest commits, but state and offsets always go back together, so the
  // lost events are simply consumed again. true costs one fsync per batch.
  bool sync_writes = false;
  // Create an empty store when `path` holds none. Default true; tools that
  // only read (streamrec state) set false so a typo is an error, not a new store.
  bool create_if_missing = true;
  // RocksDB's whole memory budget, MiB, 8..65536. Default 256. The block
  // cache, with the memtables (write_buffer_mb) and the tables' index and
  // filter blocks charged to it, so that RocksDB as a whole stays within this
  // (plus a few MiB of iterators and arena slack). Larger: more of the state
  // read from memory when the user cache misses.
  size_t block_cache_mb = 256;
  // Memtables of all column families together, MiB, 4..4096, at most half of
  // block_cache_mb. Default 64. Past it the largest memtable is flushed, and
  // writes wait if flushes fall behind. Larger: fewer, bigger flushes.
  size_t write_buffer_mb = 64;
  // Tests only: injected write failures. Null (the default) in production.
  std::shared_ptr<StoreFaults> faults;

  [[nodiscard]] Status Validate() const;
};

// Kafka position: (topic, partition) -> next offset to consume.
using OffsetKey = std::pair<std::string, int32_t>;
using Offsets = std::map<OffsetKey, int64_t>;

// Counters kept with the state, updated by every commit.
struct StoreCounters {
  uint64_t applied_events = 0;   // valid events applied to the state
  uint64_t rejected_events = 0;  // messages sent to the dead-letter topic
  uint32_t next_user_id = 0;     // the next dense UserId to hand out
  // The learner's online blend (Learner::SaveBlend) as of these counters;
  // empty: none saved yet (a store written before it existed).
  std::vector<float> blend;
};

// A catalog update as kept in the store, with when the item first arrived.
struct CatalogRecord {
  CatalogUpdate update;
  int64_t first_seen_ms = 0;
};

// A user's record under its external id, copied for a deferred write
// (PreparedCommit::DeferUsers).
struct UserCopy {
  std::string external_id;
  UserRecord record;
};

struct CommitBatch {
  std::vector<std::pair<std::string_view, const UserRecord*>> users;
  std::vector<ItemRecord> items;
  std::vector<SessionRecord> sessions;  // the learner's changed sessions
  std::vector<CatalogRecord> catalog;
  std::vector<ListHolderChange> holders;
  // Applied in order (an owed user and its delivery may be in one batch; only
  // the last change of a user is written, none when it was newly owed in the
  // batch and then delivered: see PendingListChange::newly_owed).
  std::vector<PendingListChange> pending;
  Offsets offsets;  // only the partitions this batch consumed from
  StoreCounters counters;
};

struct StateSummary {
  StoreCounters counters;
  Offsets offsets;
  uint64_t users = 0;
  uint64_t items = 0;
  std::string checksum;  // hex of a hash over every user and item embedding (and item bias)
  // The item side's totals: events counted on items, and the weights of
  // every co-occurrence row (both directions, basket rows included). Equal
  // on two instances whose item state learned from the same events.
  uint64_t item_events = 0;
  double cooc_weight = 0.0;
};

// Bytes on disk per kind of state, after a flush (SST files, compressed).
struct DiskUsage {
  uint64_t user_bytes = 0;  // user_embeddings + user_history + list_holders + pending_lists
  uint64_t item_bytes = 0;  // item_embeddings + item_neighbors + catalog + item_sessions
};

// RocksDB's memory now (Store::MeasureMemory), bytes.
struct MemoryUsage {
  uint64_t block_cache_capacity = 0;  // the budget, store.block_cache_mb
  uint64_t block_cache_usage = 0;     // everything charged to it: blocks, memtables, index and filters
  uint64_t memtables = 0;             // all column families' memtables, mutable and being flushed
  uint64_t memtable_budget = 0;       // store.write_buffer_mb
};

class Store;

// A commit encoded and ready to write (Store::Prepare): it owns copies of
// everything, so the CommitBatch's views may die once it is prepared.
// Reusable: Prepare() clears it and keeps its buffer. Movable, not copyable.
class PreparedCommit {
 public:
  PreparedCommit();
  ~PreparedCommit();
  PreparedCommit(PreparedCommit&&) noexcept;
  PreparedCommit& operator=(PreparedCommit&&) noexcept;

  size_t bytes() const;    // encoded size
  size_t entries() const;  // keys written or deleted

  // Item records to encode at Write, on the writer's thread, after what
  // Prepare/Append put in (they are owned copies: the preparing thread need
  // not spend its time on them; at a few thousand items a window with long
  // co-occurrence rows that is most of the encoding). Swaps *items with the
  // records this commit held before, so that the caller fills their storage
  // again instead of allocating ~40k records a window. Prepare() drops items
  // deferred before it; a Write retried after a failure encodes them once.
  void DeferItems(std::vector<ItemRecord>* items);
  // The same for user records: encoded at Write, on the writer's thread
  // (the preparing thread copies them between its batches instead of
  // stopping to encode them).
  void DeferUsers(std::vector<UserCopy>* users);
  // The same for the learner's changed sessions (one per user the window
  // touched: at 10,000 events/s, thousands a window).
  void DeferSessions(std::vector<SessionRecord>* sessions);
  // Lets go of the storage kept for reuse (the encoded batch, the deferred
  // item records) where it holds more than about `keep_bytes`: a window far
  // larger than usual (a flood of new item ids) is not kept twice over.
  void Trim(size_t keep_bytes);

 private:
  friend class Store;
  struct Rep;
  std::unique_ptr<Rep> rep_;
};

class Store {
 public:
  [[nodiscard]] static Status Open(const StoreOptions& options, std::unique_ptr<Store>* out);
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  // Checks the embedding dimension the state was built with; records it on a new store.
  [[nodiscard]] Status CheckDimension(int dim);

  // A random id made when the store was created, stable across restarts; it
  // names this instance as the writer of the state changelog.
  [[nodiscard]] Status InstanceId(std::string* out);
  // Calls `visit` for every stored item, with its co-occurrence rows. Moves
  // rows still kept inside item records (an older store) to item_neighbors:
  // call it before the first Write of a store that may be older.
  [[nodiscard]] Status LoadItems(const std::function<void(const ItemRecord&)>& visit);
  // Calls `visit` for every stored session of the learner's session neighbours.
  [[nodiscard]] Status LoadSessions(const std::function<void(const SessionRecord&)>& visit);
  [[nodiscard]] Status LoadCatalog(const std::function<void(const CatalogRecord&)>& visit);
  // Calls `visit(user, partition)` for every user whose current list holds `item`.
  [[nodiscard]] Status ForEachHolder(ItemId item, const std::function<void(std::string_view, int32_t)>& visit);
  // Calls `visit` for every user of events partition `partition` owed a list.
  [[nodiscard]] Status LoadPendingLists(int32_t partition, const std::function<void(const PendingListChange&)>& visit);
  // Reads one user; *found is false (and *out untouched) when unknown.
  [[nodiscard]] Status GetUser(std::string_view external_id, UserRecord* out, bool* found);
  [[nodiscard]] Status ReadOffsets(Offsets* out);
  [[nodiscard]] Status ReadCounters(StoreCounters* out);

  // Writes everything in `batch` atomically: Prepare() then Write().
  [[nodiscard]] Status Commit(const CommitBatch& batch);
  // Encodes `batch` into `out` (no I/O), each column family's keys in key
  // order: RocksDB inserts sorted keys into its memtable much faster. Entries
  // of the same key keep their order (the last one wins).
  void Prepare(const CommitBatch& batch, PreparedCommit* out) const;
  // Like Prepare, after what `out` already holds (for a key in both, this one wins).
  void Append(const CommitBatch& batch, PreparedCommit* out) const;
  // Appends item records to `out`, in key order.
  void AppendItems(std::span<const ItemRecord> items, PreparedCommit* out) const;
  void AppendSessions(std::span<const SessionRecord> sessions, PreparedCommit* out) const;
  // Writes a prepared commit atomically (its deferred users and items encoded first);
  // after a failure it may be written again. May run on another thread than
  // the Get*/Load* calls (RocksDB allows it), never concurrently with another
  // Write or Commit.
  [[nodiscard]] Status Write(PreparedCommit* commit);

  [[nodiscard]] Status Summarize(StateSummary* out);
  // Flushes the memtables and compacts every column family (so that the
  // figure is the state's, not versions awaiting compaction: a column family
  // written seldom keeps them longest), then sums the SST files of each.
  // Seconds per GB; for benchmarks.
  [[nodiscard]] Status MeasureDisk(DiskUsage* out);
  // Cheap (no I/O); from any thread.
  [[nodiscard]] Status MeasureMemory(MemoryUsage* out);

 private:
  struct Impl;
  explicit Store(std::unique_ptr<Impl> impl);
  // Appends n user records, key(i) -> record(i), in key order.
  template <class KeyFn, class RecordFn>
  void AppendUsers(size_t n, KeyFn key, RecordFn record, PreparedCommit* out) const;
  std::unique_ptr<Impl> impl_;
};

}  // namespace streamrec::store
