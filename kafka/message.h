// A consumed Kafka message. Owns the librdkafka message; views stay valid for
// the Message's lifetime. Move-only.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string_view>

namespace streamrec::kafka {

class Message {
 public:
  struct Fields {
    std::string_view topic;
    std::string_view key;
    std::string_view payload;
    int32_t partition = -1;
    int64_t offset = -1;
    int64_t timestamp_ms = -1;  // -1 when the broker sent none
    // librdkafka's message (rd_kafka_message_t), for header(); null when the
    // message was made by hand (tests).
    const void* c_message = nullptr;
  };

  Message() = default;
  Message(Fields fields, void* owner, void (*release)(void*))
      : fields_(fields), owner_(owner, release) {}

  std::string_view topic() const { return fields_.topic; }
  std::string_view key() const { return fields_.key; }
  std::string_view payload() const { return fields_.payload; }
  int32_t partition() const { return fields_.partition; }
  int64_t offset() const { return fields_.offset; }
  int64_t timestamp_ms() const { return fields_.timestamp_ms; }
  // The value of the last header named `name`, nullopt if there is none.
  std::optional<std::string_view> header(std::string_view name) const;

 private:
  Fields fields_;
  std::unique_ptr<void, void (*)(void*)> owner_{nullptr, [](void*) {}};
};

}  // namespace streamrec::kafka
