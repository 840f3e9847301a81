// EmbeddedBroker: librdkafka's mock cluster, a real Kafka protocol endpoint on
// a loopback port, in memory. For demos, tests and `streamrec broker`.
// Limits: no persistence, no log compaction, and each partition keeps only its
// newest ~5 MB (older messages are dropped as if by retention); consumer groups work.
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

  [[nodiscard]] Status CreateTopic(const std::string& name, int partitions);

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
