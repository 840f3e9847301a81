#include "ingest/decoder.h"

#include <cmath>

#include <simdjson.h>

#include "ingest/json_fields.h"

namespace streamrec::ingest {
namespace {

std::string_view CodeName(RejectCode code) {
  switch (code) {
    case RejectCode::kOversized: return "oversized";
    case RejectCode::kEmpty: return "empty_message";
    case RejectCode::kBadJson: return "bad_json";
    case RejectCode::kNotObject: return "not_object";
    case RejectCode::kMissingField: return "missing_field";
    case RejectCode::kEmptyField: return "empty_field";
    case RejectCode::kBadField: return "bad_field";
    case RejectCode::kIdTooLong: return "id_too_long";
    case RejectCode::kBadType: return "bad_type";
    case RejectCode::kBadTimestamp: return "bad_timestamp";
    case RejectCode::kKeyMismatch: return "key_mismatch";
  }
  return "unknown";
}

}  // namespace

std::string Rejection::Reason() const {
  std::string out(CodeName(code));
  if (!field.empty()) {
    out += ':';
    out += field;
  }
  return out;
}

struct EventDecoder::Impl {
  // Reads an id field (string or integer) into `out`.
  std::optional<Rejection> ReadId(simdjson::dom::object obj, const char* field, bool required, std::string* out) {
    simdjson::dom::element value;
    if (obj[field].get(value) != simdjson::SUCCESS || value.is_null()) {
      if (required) return Rejection{RejectCode::kMissingField, field};
      out->clear();
      return std::nullopt;
    }
    std::string_view text;
    if (value.get_string().get(text) == simdjson::SUCCESS) {
      if (text.empty()) return Rejection{RejectCode::kEmptyField, field};
      if (text.size() > limits.max_id_bytes) return Rejection{RejectCode::kIdTooLong, field};
      if (internal::HasControlChars(text)) return Rejection{RejectCode::kBadField, field};
      out->assign(text);
      return std::nullopt;
    }
    int64_t number = 0;
    if (value.get_int64().get(number) == simdjson::SUCCESS) {
      *out = std::to_string(number);
      return std::nullopt;
    }
    return Rejection{RejectCode::kBadField, field};
  }

  std::optional<Rejection> ReadTimestamp(simdjson::dom::object obj, int64_t fallback, int64_t* out) {
    simdjson::dom::element value;
    if (obj["ts"].get(value) != simdjson::SUCCESS || value.is_null()) {
      if (fallback < 0) return Rejection{RejectCode::kMissingField, "ts"};
      *out = fallback;
      return std::nullopt;
    }
    return internal::ReadTimeValue(value, "ts", out);
  }

  DecoderLimits limits;
  internal::ObjectParser parser;
};

EventDecoder::EventDecoder(DecoderLimits limits) : impl_(std::make_unique<Impl>()) {
  impl_->limits = limits;
}

EventDecoder::~EventDecoder() = default;

namespace {

// The optional attribution fields: the list the storefront showed
// (`list_seq`, >= 0), a purchase's price (per unit, >= 0) and quantity
// (1..1,000,000; other events' are not read: they count for nothing).
std::optional<Rejection> ReadPurchase(simdjson::dom::object obj, Event* out) {
  out->price = -1.0;
  out->quantity = 0;
  out->list_seq = -1;
  simdjson::dom::element value;
  if (obj["list_seq"].get(value) == simdjson::SUCCESS && !value.is_null()) {
    int64_t seq = 0;
    if (value.get_int64().get(seq) != simdjson::SUCCESS || seq < 0) return Rejection{RejectCode::kBadField, "list_seq"};
    out->list_seq = seq;
  }
  if (out->type != EventType::kPurchase) return std::nullopt;
  if (obj["price"].get(value) == simdjson::SUCCESS && !value.is_null()) {
    double price = 0.0;
    if (value.get_double().get(price) != simdjson::SUCCESS || !std::isfinite(price) || price < 0.0) {
      return Rejection{RejectCode::kBadField, "price"};
    }
    out->price = price;
  }
  if (obj["quantity"].get(value) == simdjson::SUCCESS && !value.is_null()) {
    int64_t quantity = 0;
    if (value.get_int64().get(quantity) != simdjson::SUCCESS || quantity < 1 || quantity > 1000000) {
      return Rejection{RejectCode::kBadField, "quantity"};
    }
    out->quantity = static_cast<uint32_t>(quantity);
  }
  return std::nullopt;
}

}  // namespace

std::optional<Rejection> EventDecoder::Decode(std::string_view payload, std::string_view key, int64_t fallback_ts_ms,
                                              Event* out) {
  if (payload.size() > impl_->limits.max_message_bytes) return Rejection{RejectCode::kOversized, ""};
  if (payload.empty()) return Rejection{RejectCode::kEmpty, ""};
  simdjson::dom::object obj;
  if (auto r = impl_->parser.Parse(payload, &obj)) return r;

  if (auto r = impl_->ReadId(obj, "user_id", true, &out->user)) return r;
  if (auto r = impl_->ReadId(obj, "item_id", true, &out->item)) return r;
  if (auto r = impl_->ReadId(obj, "event_id", false, &out->event_id)) return r;

  simdjson::dom::element type_value;
  if (obj["type"].get(type_value) != simdjson::SUCCESS || type_value.is_null()) {
    return Rejection{RejectCode::kMissingField, "type"};
  }
  std::string_view type_name;
  if (type_value.get_string().get(type_name) != simdjson::SUCCESS) return Rejection{RejectCode::kBadField, "type"};
  if (type_name.empty()) return Rejection{RejectCode::kEmptyField, "type"};
  std::optional<EventType> type = ParseEventType(type_name);
  if (!type) return Rejection{RejectCode::kBadType, "type"};
  out->type = *type;

  if (auto r = impl_->ReadTimestamp(obj, fallback_ts_ms, &out->ts_ms)) return r;
  if (auto r = ReadPurchase(obj, out)) return r;
  if (!key.empty() && key != out->user) return Rejection{RejectCode::kKeyMismatch, "user_id"};
  return std::nullopt;
}


namespace {

bool ReadDigits(std::string_view s, size_t pos, size_t n, int* out) {
  if (pos + n > s.size()) return false;
  int v = 0;
  for (size_t i = pos; i < pos + n; ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
    v = v * 10 + (s[i] - '0');
  }
  *out = v;
  return true;
}

// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
int64_t DaysFromCivil(int y, int m, int d) {
  y -= m <= 2 ? 1 : 0;
  const int era = (y >= 0 ? y : y - 399) / 400;
  const int yoe = y - era * 400;
  const int doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const int doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return static_cast<int64_t>(era) * 146097 + doe - 719468;
}

// Parses "Z", "+hh:mm", "-hhmm", "+hh" at `pos` (to the end) into seconds east of UTC.
bool ParseZone(std::string_view s, size_t pos, int64_t* offset_s) {
  if (pos == s.size()) {
    *offset_s = 0;  // no zone: taken as UTC
    return true;
  }
  if (s[pos] == 'Z' || s[pos] == 'z') {
    *offset_s = 0;
    return pos + 1 == s.size();
  }
  if (s[pos] != '+' && s[pos] != '-') return false;
  const int sign = s[pos] == '-' ? -1 : 1;
  int hh = 0;
  int mm = 0;
  if (!ReadDigits(s, pos + 1, 2, &hh)) return false;
  size_t p = pos + 3;
  if (p < s.size() && s[p] == ':') ++p;
  if (p < s.size() && !ReadDigits(s, p, 2, &mm)) return false;
  if (p < s.size()) p += 2;
  if (p != s.size() || hh > 23 || mm > 59) return false;
  *offset_s = sign * (hh * 3600 + mm * 60);
  return true;
}

}  // namespace

std::optional<int64_t> ParseIso8601Millis(std::string_view s) {
  int y = 0, mo = 0, d = 0, h = 0, mi = 0, sec = 0;
  if (!ReadDigits(s, 0, 4, &y) || s.size() < 10 || s[4] != '-' || !ReadDigits(s, 5, 2, &mo) || s[7] != '-' ||
      !ReadDigits(s, 8, 2, &d)) {
    return std::nullopt;
  }
  if (mo < 1 || mo > 12 || d < 1 || d > 31) return std::nullopt;
  int64_t millis = 0;
  size_t pos = 10;
  if (pos < s.size()) {
    if ((s[pos] != 'T' && s[pos] != 't' && s[pos] != ' ') || !ReadDigits(s, 11, 2, &h) || s.size() < 19 ||
        s[13] != ':' || !ReadDigits(s, 14, 2, &mi) || s[16] != ':' || !ReadDigits(s, 17, 2, &sec)) {
      return std::nullopt;
    }
    if (h > 23 || mi > 59 || sec > 60) return std::nullopt;
    pos = 19;
    if (pos < s.size() && s[pos] == '.') {
      int scale = 100;
      ++pos;
      const size_t digits_start = pos;
      while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
        millis += (s[pos] - '0') * scale;
        scale /= 10;
        ++pos;
      }
      if (pos == digits_start) return std::nullopt;
    }
  }
  int64_t offset_s = 0;
  if (!ParseZone(s, pos, &offset_s)) return std::nullopt;
  const int64_t seconds = DaysFromCivil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec - offset_s;
  if (seconds < 0) return std::nullopt;
  return seconds * 1000 + millis;
}

}  // namespace streamrec::ingest
