// ItemExchange: the item side that the instances of one consumer group share
// through the topic kafka.items_topic (docs/SCALE_OUT.md), so that each learns
// item factors, counts and co-occurrences from all of the group's events.
//
// Publishing. The learner sums what the events of each events partition p
// change on the item side (learner/item_updates.h). A record of p, cut at
// about max_record_bytes, goes to partition p of the topic with the headers
// writer (this instance), from and next (the events offsets it covers); all
// are delivered before the commit of those events (PublishAndFlush).
//
// Following. Every partition of the topic is read outside the group, from
// positions stored with the state. A record of another writer is applied to
// the learner once: the read position and, per partition, the `next` of the
// last record applied (applied_next) go in the same WriteBatch as the state
// they produced (AddPositions). This writer's own records are skipped when
// their item side is in this state: up to own_committed(p), the `next` of its
// last record delivered before a commit (stored with the positions). An own
// record past it was delivered before a crash that lost its window: its
// events' item side is not in this state, and whoever consumed them since
// learned them for their users alone (it had the record); it is applied as
// another writer's, unless its events are all learned here again, whole and
// unpublished, as the lost window learned them (ResolveOwnRecords: known once
// that partition resumes here, or is another member's). (A state stored
// before own_committed was kept takes all its own records as held, per
// partition until it publishes there.)
//
// Taking over events partition p (CatchUp, before p resumes): partition p of
// the topic is read to its end; then an event of p at offset o is
//   o < applied_next(p):  learned for its user alone (its item side came
//                          with another writer's record);
//   o < own_next(p):       learned whole, not published again (this writer
//                          published it, and the others have it);
//   otherwise:             learned whole and published.
// So every event's item side reaches every instance once, whoever consumed
// it, across crashes and partitions moving (docs/SCALE_OUT.md, "Exactly once").
//
// Thread-safety: one thread (the pipeline's).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/ids.h"
#include "common/status.h"
#include "kafka/properties.h"
#include "learner/learner.h"
#include "store/store.h"

namespace streamrec::pipeline {

struct ItemExchangeOptions {
  std::string topic;  // kafka.items_topic (config::KafkaConfig::ItemsTopic)
  kafka::Properties producer_properties;
  kafka::Properties reader_properties;  // bootstrap.servers and security
  std::string writer_id;                // this instance (Store::InstanceId)
  // A record is cut once its encoding reaches about this many bytes.
  // Default 512 KiB: under Kafka's default max.message.bytes (1 MiB).
  size_t max_record_bytes = size_t{512} << 10;
  int timeout_ms = 30000;  // per flush or catch-up attempt
};

struct ItemExchangeCounters {
  uint64_t published = 0;       // records delivered
  uint64_t published_bytes = 0;
  uint64_t applied = 0;         // other writers' records applied
  uint64_t skipped = 0;         // records not applied: own, duplicates, or of a partition consumed here
  uint64_t malformed = 0;       // records that could not be decoded (logged)
  uint64_t refused_items = 0;   // items of applied records the learner had no slot for
};

class ItemExchange {
 public:
  ItemExchange(ItemExchangeOptions options, learner::Learner* learner);
  ~ItemExchange();
  ItemExchange(const ItemExchange&) = delete;
  ItemExchange& operator=(const ItemExchange&) = delete;

  // Starts the producer and the follower, resuming where `stored` (the
  // store's offsets) says; the learner starts recording.
  [[nodiscard]] Status Start(const store::Offsets& stored);
  [[nodiscard]] Status Stop();

  // How to learn the event at `offset` of events partition `partition`.
  learner::Learner::Scope ScopeOf(int32_t partition, int64_t offset) const;
  // After an event learned with ScopeOf's `record`: publishes the partition's
  // record once it is large (delivery is waited for by PublishAndFlush).
  [[nodiscard]] Status Learned(int32_t partition, int64_t offset);
  // Produces every partition's pending record and waits until all records
  // are delivered (before a commit); a failed record is produced again.
  [[nodiscard]] Status PublishAndFlush();

  // Applies other writers' records read within `timeout_ms`, at most
  // `max_records`; `consuming(p)` says whether this instance consumes events
  // partition p now (its records then come from no other writer). Appends
  // the items changed to `changed`; *applied counts the records applied.
  [[nodiscard]] Status Poll(const std::function<bool(int32_t)>& consuming, size_t max_records, int timeout_ms,
                            std::vector<ItemId>* changed, size_t* applied);
  // Reads partition `partition` of the topic to its end (see above), before
  // that events partition resumes here; `between` runs between slices (the
  // caller serves its consumer group). Other partitions' records read on the
  // way are handled as Poll does.
  [[nodiscard]] Status CatchUp(int32_t partition, const std::function<bool(int32_t)>& consuming,
                               const std::function<Status()>& between, const std::atomic<bool>& stop,
                               std::vector<ItemId>* changed, size_t* applied);

  // This writer's own records of `partition` past own_committed (delivered
  // before a crash that lost their window), once that events partition
  // resumes here at `resume` (< 0: its end): dropped when its events are all learned here
  // again (resume <= the record's `from`; learned whole and not published,
  // as before the crash), else applied (another instance learned some of
  // them for their users alone). Called by the pipeline after CatchUp.
  void ResolveOwnRecords(int32_t partition, int64_t resume, std::vector<ItemId>* changed, size_t* applied);
  // The same for every partition not `owned` here (another instance learns
  // its events): applied. Called once this member has an assignment.
  void ApplyOwnRecordsElsewhere(const std::function<bool(int32_t)>& owned, std::vector<ItemId>* changed,
                                size_t* applied);

  // The read positions, applied_next and own_committed per partition, for
  // the WriteBatch of a commit whose records were all delivered.
  void AddPositions(store::Offsets* out);

  ItemExchangeCounters counters() const { return counters_; }
  const std::string& topic() const { return options_.topic; }

 private:
  struct Impl;
  // Produces the partition's pending record, if any.
  [[nodiscard]] Status Produce(int32_t partition);
  // Decodes a record and applies it to the learner (a malformed one is counted and logged).
  void Apply(int32_t partition, int64_t offset, std::string_view writer, std::string_view payload, int64_t next,
             std::vector<ItemId>* changed, size_t* applied);
  ItemExchangeOptions options_;
  learner::Learner* learner_;
  ItemExchangeCounters counters_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace streamrec::pipeline
