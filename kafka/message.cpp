#include "kafka/message.h"

#include <string>

#include <librdkafka/rdkafka.h>

namespace streamrec::kafka {

std::optional<std::string_view> Message::header(std::string_view name) const {
  if (fields_.c_message == nullptr) return std::nullopt;
  const auto* raw = static_cast<const rd_kafka_message_t*>(fields_.c_message);
  rd_kafka_headers_t* headers = nullptr;
  if (rd_kafka_message_headers(raw, &headers) != RD_KAFKA_RESP_ERR_NO_ERROR) return std::nullopt;
  const void* value = nullptr;
  size_t size = 0;
  if (rd_kafka_header_get_last(headers, std::string(name).c_str(), &value, &size) != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return std::nullopt;
  }
  return value == nullptr ? std::string_view() : std::string_view(static_cast<const char*>(value), size);
}

}  // namespace streamrec::kafka
