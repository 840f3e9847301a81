// EmbeddedCompactor: log compaction for the embedded broker, which has none.
//
// librdkafka's mock cluster keeps each partition's newest ~5 MB and drops older
// records as if by retention; a compacted topic read from the beginning would
// then miss every key whose latest record fell off (a cache warmer
// bootstrapping from `recommendations` would miss users). The compactor reads
// the compacted topics as they are written, keeps each key's latest record, and
// produces it again, unchanged, to the same partition before it ages out (once
// half a partition's capacity was written after it, the other half being the
// compactor's margin to read behind the writers). A tombstone (empty value)
// ends a key. A consumer tailing the topic sees such a copy as a repeat of the
// latest value, which latest-value records make harmless. A copy carries one
// header, `streamrec.compaction-copy` (the original's offset), and not the
// original's headers: copies are told apart from originals by it, never by
// their bytes (a producer may write the same value twice). A copy that lands
// after a newer record of its key (a producer wrote the key in between) is
// followed at once by a copy of that newer record, so the log always ends with
// each key's latest value (kafka/partition_log.h).
//
// Capacity: once a partition has been written past its capacity, if its latest
// records add up to more than 40 % of it, copying cannot keep them all (each
// record would be copied over and over); and if records were dropped before
// the compactor read them, it fell behind. Either way status() turns
// ResourceExhausted, naming the topic and partition, and the owner should stop
// (more partitions, or a real Kafka cluster). Copies cost writes: with latest
// records of a fraction f of the half they multiply the writes by 1 / (1 - f).
//
// Thread-safety: Start/Stop from one thread; status() from any.
// The work runs on the compactor's own thread, which owns its Kafka clients.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"

namespace streamrec::kafka {

struct EmbeddedCompactorOptions {
  std::string bootstrap;
  std::vector<std::string> topics;  // the compacted ones
  // What the mock cluster keeps per partition: 5 MiB of record batches
  // (librdkafka 2.x, not configurable). Smaller only in tests.
  size_t partition_bytes = size_t{5} << 20;
};

class EmbeddedCompactor {
 public:
  explicit EmbeddedCompactor(EmbeddedCompactorOptions options);
  ~EmbeddedCompactor();  // stops
  EmbeddedCompactor(const EmbeddedCompactor&) = delete;
  EmbeddedCompactor& operator=(const EmbeddedCompactor&) = delete;

  [[nodiscard]] Status Start();
  void Stop();
  // Ok while every key's latest record is kept; ResourceExhausted once a
  // partition holds more than it can keep (the compactor then stops copying).
  Status status() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace streamrec::kafka
