#include "app/topics.h"

namespace streamrec::app {

std::vector<kafka::TopicSpec> StandardTopics(const KafkaConfig& config) {
  return {
      {config.events_topic, config.partitions, 1, false},
      {config.dead_letter_topic, config.partitions, 1, false},
      {config.recommendations_topic, config.partitions, 1, true},
      {config.StateTopic(), config.partitions, 1, true},
  };
}

}  // namespace streamrec::app
