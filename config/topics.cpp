#include "config/topics.h"

namespace streamrec::config {
namespace {

enum class Policy { kUnknown, kDelete, kCompact, kCompactDelete };

Policy CleanupPolicy(const kafka::TopicInfo& topic) {
  auto it = topic.config.find("cleanup.policy");
  if (it == topic.config.end()) return Policy::kUnknown;
  const bool compact = it->second.find("compact") != std::string::npos;
  const bool del = it->second.find("delete") != std::string::npos;
  if (compact) return del ? Policy::kCompactDelete : Policy::kCompact;
  return Policy::kDelete;
}

std::string AlterHint(const std::string& topic, const std::string& policy) {
  return " (kafka-configs.sh --alter --entity-type topics --entity-name " + topic +
         " --add-config cleanup.policy=" + policy + ")";
}

void CheckState(const KafkaConfig& config, const std::map<std::string, kafka::TopicInfo>& found,
                TopicProblems* out) {
  const std::string state = config.StateTopic();
  const std::string create = "create it with `streamrec topics create` given this configuration (on the embedded "
                             "broker: streamrec broker --group " + config.group_id +
                             "), or compacted with as many partitions as " + config.events_topic;
  auto it = found.find(state);
  if (it == found.end()) {
    out->errors.push_back("the state changelog topic " + state + " does not exist: " + create);
    return;
  }
  switch (CleanupPolicy(it->second)) {
    case Policy::kDelete:
      out->errors.push_back("the state changelog topic " + state +
                            " is not compacted: retention would delete users' state, and an instance adopting a "
                            "partition would restart them from nothing" + AlterHint(state, "compact"));
      break;
    case Policy::kCompactDelete:
      out->errors.push_back("the state changelog topic " + state +
                            " is compact,delete: retention would delete users' state" + AlterHint(state, "compact"));
      break;
    default:
      break;
  }
  auto events = found.find(config.events_topic);
  if (events == found.end()) return;
  const int have = it->second.partitions;
  const int need = events->second.partitions;
  if (have < need) {
    out->errors.push_back("the state changelog topic " + state + " has " + std::to_string(have) +
                          " partitions, fewer than the " + std::to_string(need) + " of " + config.events_topic +
                          ": " + create);
  } else if (have > need) {
    out->warnings.push_back("the state changelog topic " + state + " has " + std::to_string(have) +
                            " partitions, more than the " + std::to_string(need) + " of " + config.events_topic +
                            ": the extra ones stay unused");
  }
}

void CheckItems(const KafkaConfig& config, const std::map<std::string, kafka::TopicInfo>& found,
                TopicProblems* out) {
  const std::string items = config.ItemsTopic();
  const std::string create = "create it with `streamrec topics create` given this configuration (on the embedded "
                             "broker: streamrec broker --group " + config.group_id +
                             "), or with the delete policy and as many partitions as " + config.events_topic +
                             "; or set pipeline.share_items=false for a group of one instance";
  auto it = found.find(items);
  if (it == found.end()) {
    out->errors.push_back("the item updates topic " + items + " does not exist: " + create);
    return;
  }
  const Policy policy = CleanupPolicy(it->second);
  if (policy == Policy::kCompact || policy == Policy::kCompactDelete) {
    out->errors.push_back("the item updates topic " + items +
                          " is compacted: its records of a partition share a key, and compaction would keep the "
                          "last one only" + AlterHint(items, "delete"));
  }
  auto events = found.find(config.events_topic);
  if (events != found.end() && it->second.partitions < events->second.partitions) {
    out->errors.push_back("the item updates topic " + items + " has " + std::to_string(it->second.partitions) +
                          " partitions, fewer than the " + std::to_string(events->second.partitions) + " of " +
                          config.events_topic + ": " + create);
  }
}

void CheckCompacted(const std::string& topic, bool required, const std::string& why,
                    const std::map<std::string, kafka::TopicInfo>& found, TopicProblems* out) {
  auto it = found.find(topic);
  if (it == found.end()) {
    out->warnings.push_back("topic " + topic + " does not exist: producing to it will fail");
    return;
  }
  const Policy policy = CleanupPolicy(it->second);
  if (policy == Policy::kDelete) {
    (required ? out->errors : out->warnings)
        .push_back("topic " + topic + " is not compacted: " + why + AlterHint(topic, "compact"));
  } else if (policy == Policy::kCompactDelete) {
    out->warnings.push_back("topic " + topic + " is compact,delete: " + why + " once retention.ms passes" +
                            AlterHint(topic, "compact"));
  }
}

}  // namespace

std::vector<kafka::TopicSpec> StandardTopics(const KafkaConfig& config) {
  std::vector<kafka::TopicSpec> topics = {
      {config.events_topic, config.partitions, -1, false, {}},
      {config.dead_letter_topic, config.partitions, -1, false, {}},
      {config.recommendations_topic, config.partitions, -1, true, {}},
      StateTopicSpec(config, config.group_id),
      ItemsTopicSpec(config, config.group_id),
  };
  if (!config.catalog_topic.empty()) topics.push_back({config.catalog_topic, config.partitions, -1, true, {}});
  for (const std::string* t : {&config.similar_items_topic, &config.bought_together_topic, &config.trending_topic}) {
    topics.push_back({*t, config.partitions, -1, true, {}});
  }
  return topics;
}

kafka::TopicSpec StateTopicSpec(const KafkaConfig& config, const std::string& group) {
  KafkaConfig of_group = config;
  of_group.group_id = group;
  return {of_group.StateTopic(), config.partitions, -1, true, {{"min.compaction.lag.ms", kStateCompactionLagMs}}};
}

kafka::TopicSpec ItemsTopicSpec(const KafkaConfig& config, const std::string& group) {
  KafkaConfig of_group = config;
  of_group.group_id = group;
  return {of_group.ItemsTopic(), config.partitions, -1, false, {}};
}

TopicProblems CheckTopics(const KafkaConfig& config, bool state_handoff, bool share_items,
                          const std::map<std::string, kafka::TopicInfo>& found) {
  TopicProblems out;
  auto events = found.find(config.events_topic);
  if (events == found.end()) {
    out.errors.push_back("the events topic " + config.events_topic +
                         " does not exist: create it with `streamrec topics create`");
  } else if (CleanupPolicy(events->second) == Policy::kCompact ||
             CleanupPolicy(events->second) == Policy::kCompactDelete) {
    out.errors.push_back("the events topic " + config.events_topic +
                         " is compacted: a user's unread events would be compacted away" +
                         AlterHint(config.events_topic, "delete"));
  }
  if (state_handoff) CheckState(config, found, &out);
  if (share_items) CheckItems(config, found, &out);
  CheckCompacted(config.recommendations_topic, true,
                 "a reader from the beginning would miss the lists of users inactive for longer than retention.ms",
                 found, &out);
  const std::string aging = "records of items unchanged for longer than retention.ms would age out";
  if (!config.catalog_topic.empty()) CheckCompacted(config.catalog_topic, false, aging, found, &out);
  for (const std::string* t : {&config.similar_items_topic, &config.bought_together_topic, &config.trending_topic}) {
    CheckCompacted(*t, false, aging, found, &out);
  }
  return out;
}

}  // namespace streamrec::config
