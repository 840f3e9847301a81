// Ingest: the events-topic consumer, the decoder and the dead-letter producer.
//
// Each NextBatch() returns the valid events of up to `max_batch_events`
// messages and, per partition, the offset after the last message consumed
// (valid or not). Rejected messages go to the dead-letter topic with their
// original bytes and headers reason, source.topic, source.partition,
// source.offset. FlushDeadLetters() must succeed before the batch's offsets
// are made durable, so no rejected message is lost: a letter whose delivery
// failed is produced again by the next FlushDeadLetters() (which fails until
// all are delivered), cut in half each time the broker finds it too large
// for the topic's max.message.bytes.
//
// With a catalog topic set, every batch also carries the catalog updates read
// since the last one: all partitions of that topic are followed outside the
// group (each instance needs the whole catalog), from positions the
// PositionProvider gives (ResumeOffset with the catalog topic); rejected
// catalog messages go to the same dead-letter topic.
//
// Lifecycle: Start() then NextBatch()* then Stop(). Thread-safety: one thread.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/catalog.h"
#include "common/event.h"
#include "common/status.h"
#include "ingest/decoder.h"
#include "kafka/consumer.h"
#include "kafka/properties.h"

namespace streamrec::ingest {

struct IngestOptions {
  kafka::Properties consumer_properties;  // bootstrap.servers, group.id, security ...
  kafka::Properties producer_properties;  // for the dead-letter producer
  std::string events_topic = "events";
  std::string dead_letter_topic = "events.dlq";
  // Compacted topic of item attributes; "" = no catalog.
  std::string catalog_topic;
  // For the catalog reader: bootstrap.servers and security, no group settings.
  kafka::Properties catalog_properties;
  DecoderLimits limits;
  // Most messages per batch. Default 4096: larger batches amortise the store
  // write and list refresh, smaller ones lower latency.
  size_t max_batch_events = 4096;
  // Longest wait for a batch's first message, in ms. Default 20.
  int max_batch_wait_ms = 20;
  // How long a batch gathers more after its first message, in ms. Default 1:
  // at 10k events/s ~10 events a batch instead of one (each batch costs a
  // look at the lists and the surfaces), for at most 1 ms of latency.
  int max_batch_linger_ms = 1;
};

// A rejected message as the dead-letter topic gets it: key and value cut to
// their limits (views into the message), and the headers that say so.
struct DeadLetter {
  std::string_view key;
  std::string_view value;
  bool truncated = false;
  std::string original_value_bytes;  // decimal, when truncated
  std::string original_key_bytes;    // decimal, when truncated
  std::string value_fnv1a64;         // 16 hex digits of the whole value, when truncated
};

inline constexpr size_t kDeadLetterMaxKeyBytes = 4096;

// Pure; the views point into `key` and `value`.
DeadLetter MakeDeadLetter(std::string_view key, std::string_view value, size_t max_value_bytes);

struct IngestedEvent {
  Event event;
  int32_t partition = 0;
  int64_t offset = 0;
  // The message's broker timestamp (the producer's CreateTime, or the
  // broker's LogAppendTime), ms since the epoch; -1 when it has none.
  int64_t appended_ms = -1;
};

struct IngestBatch {
  // events[0..size) are valid; slots past size are kept to reuse their buffers.
  std::vector<IngestedEvent> events;
  size_t size = 0;
  // Partition -> offset after the last message of this batch.
  std::map<int32_t, int64_t> next_offsets;
  uint64_t consumed = 0;
  uint64_t rejected = 0;
  int64_t received_ms = 0;  // wall clock when the poll returned it
  // Valid catalog updates, in topic order per partition, and per catalog
  // partition the offset after the last message read (valid or not).
  std::vector<CatalogUpdate> catalog;
  std::map<int32_t, int64_t> catalog_next_offsets;

  void Clear() {
    size = 0;
    next_offsets.clear();
    consumed = 0;
    rejected = 0;
    catalog.clear();
    catalog_next_offsets.clear();
  }
};

struct IngestCounters {
  uint64_t consumed = 0;
  uint64_t rejected = 0;
  uint64_t dead_letters_delivered = 0;
  // Dead letters sent again after a failed delivery (cut in half first when
  // the broker found them too large), and those no size could deliver.
  uint64_t dead_letters_resent = 0;
  uint64_t dead_letters_dropped = 0;
  uint64_t lost = 0;  // events deleted by the broker before they were read (kafka::Consumer::lost_offsets)
  // Producer-side partitioning (each logged once per process): valid events
  // without a key (the producer's partitioner spreads a user's events over
  // partitions), and messages whose key is not their user_id (dead-lettered).
  uint64_t unkeyed = 0;
  uint64_t key_mismatches = 0;
};

class Ingest {
 public:
  // `positions` must outlive the Ingest; it is called from NextBatch().
  Ingest(IngestOptions options, kafka::PositionProvider* positions);
  ~Ingest();

  [[nodiscard]] Status Start();
  [[nodiscard]] Status NextBatch(IngestBatch* batch);
  // As above with this call's own limits: at most `max_events` messages
  // (0: only the catalog is read), waiting at most `max_wait_ms`.
  [[nodiscard]] Status NextBatch(IngestBatch* batch, size_t max_events, int max_wait_ms);
  [[nodiscard]] Status FlushDeadLetters(int timeout_ms);
  // Reports positions (partition -> next offset) to the group coordinator
  // (lag monitoring only).
  void ReportPositions(const std::map<int32_t, int64_t>& next_offsets);
  [[nodiscard]] Status Stop();

  IngestCounters counters() const;
  // Partitions this member currently owns.
  size_t assigned_partitions() const;
  // (partition, messages behind its end) per owned events partition (kafka::Consumer::Lags).
  std::vector<std::pair<int32_t, int64_t>> Lags() const;
  // Whether this member currently owns events partition `partition`.
  bool Owns(int32_t partition) const;
  // Events partitions assigned held (the PositionProvider's HoldOnAssign),
  // in assignment order: they deliver nothing until released.
  std::vector<int32_t> HeldPartitions() const;
  bool Holds(int32_t partition) const;
  // Starts delivering held `partition` from `offset` (kafka::Consumer::Release).
  [[nodiscard]] Status Release(int32_t partition, int64_t offset);
  // Keeps this member in its group while its owner is busy outside
  // NextBatch() (kafka::Consumer::Serve): rebalance callbacks may run; no
  // events are delivered, none are skipped.
  [[nodiscard]] Status Serve(int timeout_ms);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace streamrec::ingest
