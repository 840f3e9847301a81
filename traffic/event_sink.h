// Where `produce` and `generate` send events: a JSON-lines file or a topic.
#pragma once

#include <chrono>
#include <cstdint>
#include <fstream>
#include <memory>
#include <string>
#include <string_view>

#include "common/status.h"
#include "kafka/producer.h"

namespace streamrec::traffic {

class EventSink {
 public:
  virtual ~EventSink() = default;
  // Sends one message; `key` may be empty.
  [[nodiscard]] virtual Status Write(std::string_view key, std::string_view value) = 0;
  [[nodiscard]] virtual Status Close() = 0;
};

// "-" writes to stdout.
[[nodiscard]] Status OpenFileSink(const std::string& path, std::unique_ptr<EventSink>* out);

// Produces to `topic` with the Java client's key partitioner (murmur2), so a
// user's events land on the same partition whichever client produced them.
// `rate` > 0 paces sending to that many messages per second.
[[nodiscard]] Status OpenKafkaSink(const std::string& bootstrap, const std::string& topic, double rate,
                                   std::unique_ptr<EventSink>* out);

}  // namespace streamrec::traffic
