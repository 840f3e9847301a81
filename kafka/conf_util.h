// Internal to the kafka module: builds librdkafka configurations.
#pragma once

#include <memory>

#include <librdkafka/rdkafkacpp.h>

#include "common/logging.h"
#include "common/status.h"
#include "kafka/message.h"
#include "kafka/properties.h"

namespace streamrec::kafka::internal {

// Applies `properties` to a new global configuration. Secret values never
// appear in the returned error.
[[nodiscard]] Status BuildConf(const Properties& properties, std::unique_ptr<RdKafka::Conf>* out);

// Routes librdkafka's log and error events to the module logger.
// Takes ownership of a consumed message, exposing it as a Message.
Message WrapMessage(std::unique_ptr<RdKafka::Message> m);

class LogEventCb : public RdKafka::EventCb {
 public:
  void event_cb(RdKafka::Event& event) override;

 private:
  void LogEvent(RdKafka::Event& event);
  std::shared_ptr<spdlog::logger> log_ = ModuleLogger("kafka");
};

}  // namespace streamrec::kafka::internal
