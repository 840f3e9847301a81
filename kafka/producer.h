// Producer: an RAII librdkafka producer.
//
// Thread-safety: one thread owns a Producer (calls produce/poll/flush).
// Back-pressure: produce() waits, serving delivery reports, while the local
// queue is full (QUEUE_FULL), up to ProducerOptions::queue_full_timeout_ms.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "kafka/properties.h"

namespace streamrec::kafka {

struct Header {
  std::string_view name;
  std::string_view value;
};

// One message the broker acknowledged (see ProducerOptions::on_delivery).
struct Delivery {
  std::string_view topic;
  std::string_view key;
  int32_t partition = 0;
  int64_t offset = 0;
};

// One message the broker (or the client) refused for good: librdkafka's own
// retries are over (see ProducerOptions::on_failure).
struct FailedDelivery {
  std::string_view topic;
  std::string_view key;
  std::string_view value;
  std::span<const Header> headers;
  std::string_view error;
  // The message is larger than the topic (max.message.bytes) or the client
  // (message.max.bytes) accepts: sent again as it is, it fails again.
  bool too_large = false;
};

struct ProducerOptions {
  // librdkafka properties; must contain bootstrap.servers.
  Properties properties;
  // Idempotent producer (enable.idempotence): no duplicates or reordering from
  // retries. Default on; costs one InitProducerId round trip at start.
  bool idempotent = true;
  // How long produce() waits for room in a full local queue before giving up
  // with ResourceExhausted. Default 30 s.
  int queue_full_timeout_ms = 30000;
  // Remember the highest delivered offset per (topic, partition), for
  // DeliveredOffset(). Default off: costs a map update per delivery report.
  bool track_offsets = false;
  // Topics looked up when the producer is created, so that the first produce
  // to each finds its partition leaders at once (on a cold handle it waits
  // ~0.8 s for metadata, which delays a fresh process's first deliveries and
  // commit). Create() waits up to 1 s in all for the broker's answer; a
  // lookup that fails or times out is logged, never an error. Default none.
  std::vector<std::string> warm_topics;
  // Called for each message delivered (failures are counted instead, see
  // Flush), on the owning thread, from Poll(), Flush() or a Produce() that
  // waits for room; the views are valid only during the call, and it must not
  // throw (it runs inside librdkafka's callback). Default none. For clients
  // that need each message's offset (the benchmark's latency probe) without
  // reading the topic back.
  std::function<void(const Delivery&)> on_delivery;
  // Called for each message that failed delivery, before it is counted as
  // failed (Flush then returns the error), on the owning thread like
  // on_delivery; the views are valid only during the call, and it must not
  // throw. Default none. For callers that must not lose a message: they keep
  // a copy and produce it again (the dead letters).
  std::function<void(const FailedDelivery&)> on_failure;
};

inline constexpr int32_t kAnyPartition = -1;

// The partition of `partitions` (> 0) that a keyed message goes to with the
// Java client's partitioner (murmur2, librdkafka's "murmur2" and
// "murmur2_random"): where a producer of `events` sends a user's events, and
// so which member of a group consumes them. Thread-safe; no broker involved.
[[nodiscard]] int32_t KeyPartition(std::string_view key, int32_t partitions);

class Producer {
 public:
  [[nodiscard]] static Status Create(const ProducerOptions& options, std::unique_ptr<Producer>* out);
  ~Producer();  // flushes for up to 5 s; undelivered messages are logged
  Producer(const Producer&) = delete;
  Producer& operator=(const Producer&) = delete;

  // Enqueues a copy of key/value; delivery is asynchronous (see flush()).
  [[nodiscard]] Status Produce(std::string_view topic, std::string_view key, std::string_view value,
                               std::span<const Header> headers = {}, int32_t partition = kAnyPartition);

  // Like Produce(), but `value` is not copied (the key is): it must stay alive
  // and unchanged until outstanding() is 0 (after a Flush() that succeeded, or
  // one that failed once nothing is left in flight). For a batch encoded into
  // one reused buffer and flushed before the buffer is reused: no allocation
  // or copy of the value per message (at ~100k messages a second the copies'
  // heap growing and shrinking cost more than the produce itself).
  [[nodiscard]] Status ProduceReferenced(std::string_view topic, std::string_view key, std::string_view value,
                                         int32_t partition = kAnyPartition);
  // Serves delivery reports; returns how many were served.
  int Poll(int timeout_ms);

  // Waits until every enqueued message is delivered or failed. Returns an error
  // if any delivery failed since the last Flush() (the count resets).
  [[nodiscard]] Status Flush(int timeout_ms);

  uint64_t delivered() const;
  uint64_t failed() const;
  int outstanding() const;
  // Highest offset delivered to topic/partition so far, or -1 (needs
  // ProducerOptions::track_offsets). Call on the owning thread after Flush().
  int64_t DeliveredOffset(std::string_view topic, int32_t partition) const;

 private:
  struct Impl;
  explicit Producer(std::unique_ptr<Impl> impl);
  Status ProduceWithFlags(std::string_view topic, std::string_view key, std::string_view value,
                          std::span<const Header> headers, int32_t partition, int msgflags);
  std::unique_ptr<Impl> impl_;
};

}  // namespace streamrec::kafka
