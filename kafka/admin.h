// Topic administration against a real cluster.
#pragma once

#include <string>
#include <vector>

#include "common/status.h"
#include "kafka/properties.h"

namespace streamrec::kafka {

struct TopicSpec {
  std::string name;
  int partitions = 4;
  int replication_factor = 1;
  bool compacted = false;  // cleanup.policy=compact: latest value per key is kept
};

// Creates the topics that do not exist yet. Existing topics are left as they
// are. Returns Unavailable when the cluster cannot be reached in `timeout_ms`.
[[nodiscard]] Status EnsureTopics(const Properties& properties, const std::vector<TopicSpec>& topics,
                                  int timeout_ms);

}  // namespace streamrec::kafka
