#include "ingest/catalog_decoder.h"

#include <cmath>

#include <simdjson.h>

#include "ingest/json_fields.h"

namespace streamrec::ingest {
namespace {

bool Absent(simdjson::dom::object obj, const char* field, simdjson::dom::element* value) {
  return obj[field].get(*value) != simdjson::SUCCESS || value->is_null();
}

}  // namespace

struct CatalogDecoder::Impl {
  // A short text attribute (category, brand, a tag): a string within the id bound.
  std::optional<Rejection> ReadText(simdjson::dom::element value, const char* field, std::string* out) const {
    std::string_view text;
    if (value.get_string().get(text) != simdjson::SUCCESS || internal::HasControlChars(text)) {
      return Rejection{RejectCode::kBadField, field};
    }
    if (text.size() > limits.max_id_bytes) return Rejection{RejectCode::kIdTooLong, field};
    out->assign(text);
    return std::nullopt;
  }

  std::optional<Rejection> ReadOptionalText(simdjson::dom::object obj, const char* field, std::string* out) const {
    simdjson::dom::element value;
    out->clear();
    if (Absent(obj, field, &value)) return std::nullopt;
    return ReadText(value, field, out);
  }

  static std::optional<Rejection> ReadTime(simdjson::dom::object obj, const char* field, int64_t* out) {
    simdjson::dom::element value;
    *out = kNoTime;
    if (Absent(obj, field, &value)) return std::nullopt;
    return internal::ReadTimeValue(value, field, out);
  }

  std::optional<Rejection> ReadItemId(simdjson::dom::object obj, std::string* out) const {
    simdjson::dom::element value;
    if (Absent(obj, "item_id", &value)) return Rejection{RejectCode::kMissingField, "item_id"};
    int64_t number = 0;
    if (value.get_int64().get(number) == simdjson::SUCCESS) {
      *out = std::to_string(number);
      return std::nullopt;
    }
    if (auto r = ReadText(value, "item_id", out)) return r;
    if (out->empty()) return Rejection{RejectCode::kEmptyField, "item_id"};
    return std::nullopt;
  }

  std::optional<Rejection> ReadScalars(simdjson::dom::object obj, CatalogEntry* e) const {
    simdjson::dom::element value;
    e->price = -1.0;
    if (!Absent(obj, "price", &value)) {
      if (value.get_double().get(e->price) != simdjson::SUCCESS || !std::isfinite(e->price) || e->price < 0) {
        return Rejection{RejectCode::kBadField, "price"};
      }
    }
    e->in_stock = true;
    if (!Absent(obj, "in_stock", &value) && value.get_bool().get(e->in_stock) != simdjson::SUCCESS) {
      return Rejection{RejectCode::kBadField, "in_stock"};
    }
    if (auto r = ReadTime(obj, "available_from", &e->available_from_ms)) return r;
    return ReadTime(obj, "available_until", &e->available_until_ms);
  }

  std::optional<Rejection> ReadTags(simdjson::dom::object obj, std::vector<std::string>* tags) const {
    simdjson::dom::element value;
    tags->clear();
    if (Absent(obj, "tags", &value)) return std::nullopt;
    simdjson::dom::array array;
    if (value.get_array().get(array) != simdjson::SUCCESS || array.size() > kMaxCatalogTags) {
      return Rejection{RejectCode::kBadField, "tags"};
    }
    for (simdjson::dom::element tag : array) {
      std::string text;
      if (auto r = ReadText(tag, "tags", &text)) return r;
      if (!text.empty()) tags->push_back(std::move(text));
    }
    return std::nullopt;
  }

  DecoderLimits limits;
  internal::ObjectParser parser;
};

CatalogDecoder::CatalogDecoder(DecoderLimits limits) : impl_(std::make_unique<Impl>()) { impl_->limits = limits; }
CatalogDecoder::~CatalogDecoder() = default;

std::optional<Rejection> CatalogDecoder::Decode(std::string_view payload, std::string_view key, CatalogUpdate* out) {
  out->removed = false;
  if (payload.size() > impl_->limits.max_message_bytes) return Rejection{RejectCode::kOversized, ""};
  if (payload.empty()) {
    // A tombstone names its item by the key alone.
    if (key.empty()) return Rejection{RejectCode::kEmpty, ""};
    if (key.size() > impl_->limits.max_id_bytes) return Rejection{RejectCode::kIdTooLong, "item_id"};
    out->entry = CatalogEntry{};
    out->entry.item_id.assign(key);
    out->removed = true;
    return std::nullopt;
  }
  simdjson::dom::object obj;
  if (auto r = impl_->parser.Parse(payload, &obj)) return r;
  CatalogEntry& e = out->entry;
  if (auto r = impl_->ReadItemId(obj, &e.item_id)) return r;
  if (!key.empty() && key != e.item_id) return Rejection{RejectCode::kKeyMismatch, "item_id"};
  if (auto r = impl_->ReadOptionalText(obj, "category", &e.category)) return r;
  if (auto r = impl_->ReadOptionalText(obj, "brand", &e.brand)) return r;
  if (auto r = impl_->ReadScalars(obj, &e)) return r;
  return impl_->ReadTags(obj, &e.tags);
}

}  // namespace streamrec::ingest
