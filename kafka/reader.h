// PartitionReader: reads one partition from a given offset up to its end,
// outside any consumer group (assign, not subscribe). Used to restore state
// from a changelog when a partition moves to this instance.
//
// Thread-safety: one thread owns a PartitionReader.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "common/status.h"
#include "kafka/message.h"
#include "kafka/properties.h"

namespace streamrec::kafka {

struct Watermarks {
  int64_t low = 0;   // oldest offset still on the broker
  int64_t high = 0;  // offset the next message will get
};

// Slices of a long read: `between` runs after each `records` offsets read
// (not after the last slice), on the caller's thread, the partition staying
// assigned (nothing fetched ahead is thrown away). Setting *stop ends the
// read early with Ok; a failure ends it with that failure.
struct ReadSlices {
  int64_t records = 0;  // 0: the whole range is one slice
  std::function<Status(bool* stop)> between;
};

class PartitionReader {
 public:
  // `properties` must contain bootstrap.servers (security settings pass through).
  [[nodiscard]] static Status Create(const Properties& properties, std::unique_ptr<PartitionReader>* out);
  ~PartitionReader();
  PartitionReader(const PartitionReader&) = delete;
  PartitionReader& operator=(const PartitionReader&) = delete;

  // Asks the partition leader; Unavailable (retryable) when it cannot be reached in time.
  [[nodiscard]] Status QueryWatermarks(const std::string& topic, int32_t partition, int timeout_ms,
                                       Watermarks* out);
  // Calls `visit` for every message at offsets [from, until), in order. Fails
  // with Unavailable if no message arrives for `timeout_ms` before all did.
  // Precondition: until <= the high watermark.
  [[nodiscard]] Status Read(const std::string& topic, int32_t partition, int64_t from, int64_t until,
                            int timeout_ms, const std::function<void(const Message&)>& visit,
                            const ReadSlices& slices = {});

 private:
  struct Impl;
  explicit PartitionReader(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace streamrec::kafka
