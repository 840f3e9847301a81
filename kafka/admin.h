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
  // -1 (default): the broker's default.replication.factor, so one spec serves a
  // single broker and a replicated cluster alike.
  int replication_factor = -1;
  bool compacted = false;  // cleanup.policy=compact: latest value per key is kept
  // More topic configs set at creation (e.g. min.compaction.lag.ms); they
  // override cleanup.policy from `compacted`.
  std::map<std::string, std::string> config;
};

// Creates the topics that do not exist yet and, when `created` is given,
// lists their names there. Existing topics are left as they are. Returns
// Unavailable when the cluster cannot be reached in `timeout_ms`,
// InvalidArgument when it refuses a spec (e.g. more replicas than brokers).
// Every call here returns Unauthenticated, as soon as librdkafka reports it,
// when the cluster refuses the credentials or TLS settings in `properties`.
[[nodiscard]] Status EnsureTopics(const Properties& properties, const std::vector<TopicSpec>& topics,
                                  int timeout_ms, std::vector<std::string>* created = nullptr);

// What the cluster says about one topic.
struct TopicInfo {
  int partitions = 0;
  int replication_factor = 0;  // replicas of partition 0
  // The topic's effective configs (cleanup.policy, min.compaction.lag.ms, ...),
  // defaults included; empty when the cluster does not answer DescribeConfigs.
  std::map<std::string, std::string> config;
};

// Metadata and configs of each of `topics` that exists (missing ones are left
// out of *out); asking never creates a topic. Unavailable when the cluster
// cannot be reached in `timeout_ms`. `with_configs` false skips DescribeConfigs
// (the embedded broker does not serve it).
[[nodiscard]] Status DescribeTopics(const Properties& properties, const std::vector<std::string>& topics,
                                    bool with_configs, int timeout_ms, std::map<std::string, TopicInfo>* out);

// Waits until the cluster's metadata shows every one of `topics` (a broker
// may answer about topics it just created only a moment later), asking again
// every 200 ms. Unavailable (retryable) naming the ones still missing after
// `timeout_ms`, or when the cluster cannot be reached.
[[nodiscard]] Status AwaitTopics(const Properties& properties, const std::vector<std::string>& topics, int timeout_ms);

// The id of the cluster at properties' bootstrap.servers. Unavailable when it
// does not answer in `timeout_ms`.
[[nodiscard]] Status ClusterId(const Properties& properties, int timeout_ms, std::string* out);

// Whether `cluster_id` is librdkafka's mock cluster (the embedded broker,
// `streamrec broker` or `run --bootstrap embedded`), whose consumers need
// other settings than on Kafka (it holds a fetch that finds nothing for the
// whole fetch.wait.max.ms).
inline bool IsEmbeddedCluster(std::string_view cluster_id) { return cluster_id.starts_with("mockCluster"); }

}  // namespace streamrec::kafka
