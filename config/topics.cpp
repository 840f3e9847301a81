#include "config/topics.h"

namespace streamrec::config {

std::vector<kafka::TopicSpec> StandardTopics(const KafkaConfig& config) {
  std::vector<kafka::TopicSpec> topics = {
      {config.events_topic, config.partitions, 1, false},
      {config.dead_letter_topic, config.partitions, 1, false},
      {config.recommendations_topic, config.partitions, 1, true},
      {config.StateTopic(), config.partitions, 1, true},
  };
  if (!config.catalog_topic.empty()) topics.push_back({config.catalog_topic, config.partitions, 1, true});
  for (const std::string* t : {&config.similar_items_topic, &config.bought_together_topic, &config.trending_topic}) {
    topics.push_back({*t, config.partitions, 1, true});
  }
  return topics;
}

}  // namespace streamrec::config
