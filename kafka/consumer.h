// Consumer: an RAII librdkafka KafkaConsumer in a consumer group whose
// positions are owned by the application, not by Kafka's committed offsets.
//
// On every assignment the PositionProvider says where each partition resumes
// (exactly-once state: the offsets stored with the state). Messages of a
// revoked partition that were polled but not yet returned are dropped, so a
// caller never applies a message from a partition it no longer owns, nor one
// it will be given again after the partition comes back.
//
// A partition can be held on assignment (PositionProvider::HoldOnAssign): it
// is assigned paused and delivers nothing until the owner Release()s it at
// the offset it chose, so slow preparation (adopting state) runs outside the
// rebalance callback, between polls, with Serve() keeping the member in the group.
//
// Thread-safety: one thread owns a Consumer; the provider is called on that
// thread, from inside PollBatch() and Serve().
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "kafka/message.h"
#include "kafka/properties.h"

namespace streamrec::kafka {

struct TopicPartition {
  std::string topic;
  int32_t partition = 0;
  auto operator<=>(const TopicPartition&) const = default;
};

// librdkafka's logical offsets.
inline constexpr int64_t kOffsetBeginning = -2;
inline constexpr int64_t kOffsetEnd = -1;

class PositionProvider {
 public:
  virtual ~PositionProvider() = default;
  // The next offset to read for `tp`: an absolute offset, kOffsetBeginning or kOffsetEnd.
  virtual int64_t ResumeOffset(const TopicPartition& tp) = 0;
  // Called before partitions are taken away; state for them must be durable on return.
  virtual void OnRevoked(const std::vector<TopicPartition>& partitions) = 0;
  // Whether `tp` is assigned held (see the header comment); ResumeOffset is
  // then where it would resume if released unchanged. Both run inside the
  // rebalance callback: they must be quick.
  virtual bool HoldOnAssign(const TopicPartition& /*tp*/) { return false; }
};

struct ConsumerOptions {
  Properties properties;  // must contain bootstrap.servers and group.id
  std::vector<std::string> topics;
};

class Consumer {
 public:
  // `provider` must outlive the Consumer.
  [[nodiscard]] static Status Create(const ConsumerOptions& options, PositionProvider* provider,
                                     std::unique_ptr<Consumer>* out);
  ~Consumer();  // closes (leaves the group) if Close() was not called
  Consumer(const Consumer&) = delete;
  Consumer& operator=(const Consumer&) = delete;

  // Appends up to `max_messages` to `out`: waits at most `timeout_ms` for the
  // first, then at most `linger_ms` more for others (a batch never waits to
  // fill: under load the local queue fills it, when quiet waiting would only
  // add latency; a short linger saves the cost of many one-message batches).
  // Partition EOFs and transient broker errors are not errors here (they are
  // logged); a fatal consumer error is returned.
  [[nodiscard]] Status PollBatch(size_t max_messages, int timeout_ms, std::vector<Message>* out, int linger_ms = 0);

  // Partitions currently assigned to this member (held ones included).
  std::vector<TopicPartition> Assignment() const;
  // Assigned partitions still held, in assignment order.
  const std::vector<TopicPartition>& Held() const;
  // Starts delivering held partition `tp` from `offset` (absolute or logical).
  // A partition no longer assigned (revoked meanwhile) is ignored.
  [[nodiscard]] Status Release(const TopicPartition& tp, int64_t offset);
  // Serves the group protocol (rebalance callbacks, heartbeats' results)
  // without delivering messages, waiting at most `timeout_ms`: for an owner
  // busy outside PollBatch. The first call pauses every assigned partition
  // that is not held; the next PollBatch resumes them where they stopped
  // (messages that arrived meanwhile are delivered then, nothing is skipped).
  [[nodiscard]] Status Serve(int timeout_ms);
  // Offsets the broker deleted before they were read: a partition whose next
  // message lies past the position it should resume from, below the broker's
  // log start (retention, or the embedded broker's size limit). Each gap is
  // also logged as an error naming the partition and the range.
  uint64_t lost_offsets() const;
  // Per assigned partition with a position: (partition, messages between the
  // position and the broker's high watermark as last fetched). Local: no
  // request to the broker. Held partitions (no position yet) are left out.
  std::vector<std::pair<int32_t, int64_t>> Lags() const;

  // Publishes positions to the group coordinator for lag monitoring only;
  // streamrec never resumes from them. Asynchronous; failures are logged.
  void CommitForMonitoring(const std::vector<std::pair<TopicPartition, int64_t>>& positions);

  // Leaves the group. Idempotent.
  [[nodiscard]] Status Close();

 private:
  static constexpr int kSeekTimeoutMs = 10000;
  struct Impl;
  explicit Consumer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace streamrec::kafka
