// CatalogDecoder: validates one message of the catalog topic.
//
// Key = item id. Value: {"item_id", "category", "brand", "price", "in_stock",
// "available_from", "available_until", "tags": [...]}, all but item_id
// optional; times are epoch milliseconds or ISO-8601. An empty value (a
// tombstone) withdraws the item named by the key. Rejections use the event
// decoder's reasons (bad_json, missing_field:item_id, bad_field:price, ...).
//
// Thread-safety: one per thread (reuses its parser).
#pragma once

#include <memory>
#include <optional>
#include <string_view>

#include "common/catalog.h"
#include "ingest/decoder.h"

namespace streamrec::ingest {

// Most tags kept per item; longer lists are rejected (bad_field:tags).
inline constexpr size_t kMaxCatalogTags = 64;

class CatalogDecoder {
 public:
  explicit CatalogDecoder(DecoderLimits limits = {});
  ~CatalogDecoder();
  CatalogDecoder(const CatalogDecoder&) = delete;
  CatalogDecoder& operator=(const CatalogDecoder&) = delete;

  [[nodiscard]] std::optional<Rejection> Decode(std::string_view payload, std::string_view key, CatalogUpdate* out);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace streamrec::ingest
