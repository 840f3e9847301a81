// Internal to ingest: what the event and catalog decoders share.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <simdjson.h>

#include "ingest/decoder.h"

namespace streamrec::ingest::internal {

bool HasControlChars(std::string_view s);

// A time value: epoch milliseconds (number) or ISO-8601 (string).
std::optional<Rejection> ReadTimeValue(simdjson::dom::element value, const char* field, int64_t* out);

// Parses a payload into a JSON object, reusing its buffers. One per thread.
class ObjectParser {
 public:
  ObjectParser() { padded_.reserve(1024 + simdjson::SIMDJSON_PADDING); }
  // bad_json or not_object on failure; the object lives until the next call.
  std::optional<Rejection> Parse(std::string_view payload, simdjson::dom::object* out);

 private:
  simdjson::dom::parser parser_;
  std::string padded_;  // payload copy with simdjson's required tail padding
};

}  // namespace streamrec::ingest::internal
