#include "ingest/json_fields.h"

#include <cmath>
#include <cstring>

namespace streamrec::ingest::internal {

bool HasControlChars(std::string_view s) {
  for (unsigned char c : s) {
    if (c < 0x20 || c == 0x7f) return true;
  }
  return false;
}

std::optional<Rejection> ReadTimeValue(simdjson::dom::element value, const char* field, int64_t* out) {
  std::string_view text;
  if (value.get_string().get(text) == simdjson::SUCCESS) {
    std::optional<int64_t> ms = ParseIso8601Millis(text);
    if (!ms) return Rejection{RejectCode::kBadTimestamp, field};
    *out = *ms;
    return std::nullopt;
  }
  double number = 0;
  if (value.get_double().get(number) != simdjson::SUCCESS || !std::isfinite(number) || number < 0 ||
      number > 9.2e15) {
    return Rejection{RejectCode::kBadTimestamp, field};
  }
  *out = static_cast<int64_t>(number);
  return std::nullopt;
}

std::optional<Rejection> ObjectParser::Parse(std::string_view payload, simdjson::dom::object* out) {
  padded_.resize(payload.size() + simdjson::SIMDJSON_PADDING);
  std::memcpy(padded_.data(), payload.data(), payload.size());
  simdjson::dom::element doc;
  if (parser_.parse(padded_.data(), payload.size(), false).get(doc) != simdjson::SUCCESS) {
    return Rejection{RejectCode::kBadJson, ""};
  }
  if (doc.get_object().get(*out) != simdjson::SUCCESS) return Rejection{RejectCode::kNotObject, ""};
  return std::nullopt;
}

}  // namespace streamrec::ingest::internal
