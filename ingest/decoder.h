// EventDecoder: validates one JSON event message and decodes it into an Event.
//
// Accepted: {"user_id": "...", "item_id": "...", "type": "...", "ts": ..., "event_id": "..."}
// with ids as non-empty strings (or integers), type one of view/click, cart,
// remove_from_cart, purchase; ts epoch milliseconds or ISO-8601, or missing
// (then the Kafka message timestamp); event_id optional; other fields ignored.
// Everything else is rejected with a machine-readable reason.
//
// Thread-safety: not thread-safe (reuses its parser and buffers); one per thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "common/event.h"

namespace streamrec::ingest {

struct DecoderLimits {
  // Larger messages are rejected unread. Default 64 KiB: events are small;
  // raising it raises the memory a flood of large garbage can take.
  size_t max_message_bytes = 64 * 1024;
  // Longest user, item or event id in bytes. Default 256.
  size_t max_id_bytes = 256;
  // A dead letter keeps at most this many bytes of the rejected message's
  // value, 1 KiB..16 MiB (its key: at most 4 KiB); a longer one is truncated
  // and says so in headers (original size and FNV-1a 64 of the whole value).
  // Default 256 KiB: well under the producer's and the broker's 1 MB
  // message.max.bytes, so no single message can fail the DLQ produce and stop
  // (or crash-loop) the pipeline.
  size_t dead_letter_max_bytes = 256 * 1024;
};

enum class RejectCode {
  kOversized,     // message larger than max_message_bytes
  kEmpty,         // no payload (tombstone) or empty payload
  kBadJson,       // not valid JSON
  kNotObject,     // valid JSON but not an object
  kMissingField,  // a required field is absent or null
  kEmptyField,    // a required field is ""
  kBadField,      // a field has the wrong JSON type or holds control characters
  kIdTooLong,     // an id is longer than max_id_bytes
  kBadType,       // type is not one of the known event types
  kBadTimestamp,  // ts is negative, not a number, or not ISO-8601
  kKeyMismatch,   // the Kafka key is set and differs from user_id
};

struct Rejection {
  RejectCode code;
  std::string field;  // the offending field, empty when not about one field

  // "missing_field:user_id", "bad_json", ... (the DLQ "reason" header).
  std::string Reason() const;
};

class EventDecoder {
 public:
  explicit EventDecoder(DecoderLimits limits = {});
  ~EventDecoder();
  EventDecoder(const EventDecoder&) = delete;
  EventDecoder& operator=(const EventDecoder&) = delete;

  // Decodes `payload` into `*out`. `key` is the Kafka key (may be empty);
  // `fallback_ts_ms` is used when the event has no ts. Returns nullopt on
  // success, the rejection otherwise (then `*out` is unspecified).
  [[nodiscard]] std::optional<Rejection> Decode(std::string_view payload, std::string_view key,
                                                int64_t fallback_ts_ms, Event* out);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Parses "YYYY-MM-DD", "YYYY-MM-DDThh:mm:ss[.fff][Z|+hh:mm|-hhmm]" to epoch ms.
std::optional<int64_t> ParseIso8601Millis(std::string_view text);

}  // namespace streamrec::ingest
