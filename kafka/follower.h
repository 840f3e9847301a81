// TopicFollower: reads every partition of one topic, outside any consumer
// group (assign, not subscribe), from positions the caller stores with its
// state. For topics every instance needs whole, such as the catalog.
//
// Partitions are found once, at Create() (a topic that does not exist yet is
// looked up again on later polls); partitions added later are not followed.
//
// Thread-safety: one thread owns a TopicFollower.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "kafka/message.h"
#include "kafka/properties.h"

namespace streamrec::kafka {

class TopicFollower {
 public:
  // `resume(partition)`: the next offset to read, or -2 for the beginning.
  using ResumeFn = std::function<int64_t(int32_t partition)>;

  // `properties` must contain bootstrap.servers (security settings pass through).
  [[nodiscard]] static Status Create(const Properties& properties, std::string topic, ResumeFn resume,
                                     std::unique_ptr<TopicFollower>* out);
  ~TopicFollower();
  TopicFollower(const TopicFollower&) = delete;
  TopicFollower& operator=(const TopicFollower&) = delete;

  // Appends up to `max_messages` to `out`, waiting at most `timeout_ms`.
  // Until the topic's partitions are known it returns nothing (and retries
  // the lookup at most every 5 s, waiting at most 1 s for an answer).
  [[nodiscard]] Status Poll(size_t max_messages, int timeout_ms, std::vector<Message>* out);

  // Partitions being read (0 until the topic was found).
  size_t partitions() const;

  // The offsets of `partition`'s oldest record still held and of the next
  // one to be written (the broker's low and high watermarks), asked of the
  // broker: Unavailable when it does not answer within `timeout_ms`.
  [[nodiscard]] Status Watermarks(int32_t partition, int timeout_ms, int64_t* low, int64_t* high);

 private:
  struct Impl;
  explicit TopicFollower(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace streamrec::kafka
