// The topics streamrec reads and writes, how to create them, and the contract
// a running instance needs them to keep.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "config/config.h"
#include "kafka/admin.h"

namespace streamrec::config {

// How long the state changelog's newest records stay out of compaction's reach
// (min.compaction.lag.ms, 10 min): a batch that never completed (its writer
// died before the offsets marker) may have written a newer record of a user
// than the last complete one, which an adopter still needs to find.
inline constexpr const char* kStateCompactionLagMs = "600000";

// events, events.dlq and the item updates (delete policy); recommendations, the state changelog,
// the catalog and the surfaces (compacted). Replication: the broker's default.
std::vector<kafka::TopicSpec> StandardTopics(const KafkaConfig& config);

// The state changelog of consumer group `group` (one per group), as StandardTopics makes it.
kafka::TopicSpec StateTopicSpec(const KafkaConfig& config, const std::string& group);
// The same for the group's item updates (delete policy).
kafka::TopicSpec ItemsTopicSpec(const KafkaConfig& config, const std::string& group);

// What is wrong with the topics as found. `errors` break a promise streamrec
// makes (exactly-once state, a reader from the beginning finding every user's
// latest list, no event deleted before it is read): `run` refuses to start.
// `warnings` cost something less (an old surface record aging out): logged.
struct TopicProblems {
  std::vector<std::string> errors;
  std::vector<std::string> warnings;
};

// Checks `found` (DescribeTopics of StandardTopics' names) against the
// contract: events exists and is not compacted; the state changelog exists,
// is compacted without deletion and has as many partitions as events;
// recommendations is compacted (compact,delete only warns); the catalog and
// surfaces are compacted (else a warning). A topic whose configs are unknown
// (found without them) is checked for existence and partitions only. Without
// `state_handoff` (pipeline.state_handoff) the state changelog is not needed;
// with `share_items` (pipeline.share_items) the item updates' topic must
// exist, not be compacted (its records of a partition share a key) and have
// as many partitions as events.
TopicProblems CheckTopics(const KafkaConfig& config, bool state_handoff, bool share_items,
                          const std::map<std::string, kafka::TopicInfo>& found);

}  // namespace streamrec::config
