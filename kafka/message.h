// A consumed Kafka message. Owns the librdkafka message; views stay valid for
// the Message's lifetime. Move-only.
#pragma once

#include <cstdint>
#include <memory>
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

 private:
  Fields fields_;
  std::unique_ptr<void, void (*)(void*)> owner_{nullptr, [](void*) {}};
};

}  // namespace streamrec::kafka
