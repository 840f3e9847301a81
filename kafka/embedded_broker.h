// EmbeddedBroker: librdkafka's mock cluster, a real Kafka protocol endpoint on
// a loopback port, in memory. For demos, tests and `streamrec broker`.
// Limits: no persistence, and each partition keeps only its newest ~5 MB (older
// messages are dropped as if by retention); consumer groups work. The mock has
// no log compaction: topics created compacted get it from an EmbeddedCompactor
// (embedded_compactor.h) once StartCompaction() is called.
#pragma once

#include <memory>
#include <string>

#include "common/status.h"

namespace streamrec::kafka {

class EmbeddedBroker {
 public:
  [[nodiscard]] static Status Start(int broker_count, std::unique_ptr<EmbeddedBroker>* out);
  ~EmbeddedBroker();
  EmbeddedBroker(const EmbeddedBroker&) = delete;
  EmbeddedBroker& operator=(const EmbeddedBroker&) = delete;

  // "127.0.0.1:PORT[,...]"
  const std::string& bootstrap() const;

  // `compacted`: keep every key's latest record (see StartCompaction).
  [[nodiscard]] Status CreateTopic(const std::string& name, int partitions, bool compacted = false);
  // Starts compacting the topics created compacted so far. Call once, after
  // creating them; stopped before the cluster when the broker is destroyed.
  [[nodiscard]] Status StartCompaction();
  // Ok, or why compaction stopped (a partition holds more latest records than
  // it can keep): the owner should then stop with that error. Any thread.
  Status CompactionStatus() const;

  // Fault injection for tests: takes broker `id` (1-based) down or up.
  [[nodiscard]] Status SetBrokerDown(int id, bool down);

  // Fault injection: the next `count` requests of Kafka API `api_key` (0 Produce,
  // 1 Fetch, 8 OffsetCommit, 11 JoinGroup, ...) fail with Kafka error `error_code`.
  [[nodiscard]] Status PushRequestErrors(int api_key, int error_code, int count);

 private:
  struct Impl;
  explicit EmbeddedBroker(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace streamrec::kafka
