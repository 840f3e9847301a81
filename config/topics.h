// The topics streamrec reads and writes, and how to create them.
#pragma once

#include <vector>

#include "config/config.h"
#include "kafka/admin.h"

namespace streamrec::config {

// events and events.dlq (delete policy); recommendations and the state changelog (compacted).
std::vector<kafka::TopicSpec> StandardTopics(const KafkaConfig& config);

}  // namespace streamrec::config
