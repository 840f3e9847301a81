// The topics streamrec reads and writes, and how to create them.
#pragma once

#include <vector>

#include "app/config.h"
#include "kafka/admin.h"

namespace streamrec::app {

// events and events.dlq (delete policy); recommendations and the state changelog (compacted).
std::vector<kafka::TopicSpec> StandardTopics(const KafkaConfig& config);

}  // namespace streamrec::app
