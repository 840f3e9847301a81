// Topic administration against a real cluster.
#pragma once

#include <map>
#include <string>
#include <string_view>
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

// The partition count of each of `topics` that exists (missing ones are left
// out of *out), from the cluster's metadata; asking never creates a topic.
// Unavailable when the cluster cannot be reached in `timeout_ms`.
[[nodiscard]] Status PartitionCounts(const Properties& properties, const std::vector<std::string>& topics,
                                     int timeout_ms, std::map<std::string, int>* out);

// The id of the cluster at properties' bootstrap.servers. Unavailable when it
// does not answer in `timeout_ms`.
[[nodiscard]] Status ClusterId(const Properties& properties, int timeout_ms, std::string* out);

// Whether `cluster_id` is librdkafka's mock cluster (the embedded broker,
// `streamrec broker` or `run --bootstrap embedded`), whose consumers need
// other settings than on Kafka (it holds a fetch that finds nothing for the
// whole fetch.wait.max.ms).
inline bool IsEmbeddedCluster(std::string_view cluster_id) { return cluster_id.starts_with("mockCluster"); }

}  // namespace streamrec::kafka
