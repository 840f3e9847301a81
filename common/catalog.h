// The catalog vocabulary: what a shop says about one item on the `catalog`
// topic (key = item id). Decoded by ingest, persisted by the store, applied by
// the catalog module and the emitter's rules.
#pragma once

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

namespace streamrec {

inline constexpr int64_t kNoTime = std::numeric_limits<int64_t>::min();

struct CatalogEntry {
  std::string item_id;
  std::string category;  // "" when not given
  std::string brand;     // "" when not given
  double price = -1.0;   // < 0 when not given
  bool in_stock = true;
  int64_t available_from_ms = kNoTime;   // kNoTime: always available so far
  int64_t available_until_ms = kNoTime;  // kNoTime: no end
  std::vector<std::string> tags;

  // In stock and inside its availability window at `now_ms`.
  bool AvailableAt(int64_t now_ms) const {
    if (!in_stock) return false;
    if (available_from_ms != kNoTime && now_ms < available_from_ms) return false;
    if (available_until_ms != kNoTime && now_ms >= available_until_ms) return false;
    return true;
  }

  bool operator==(const CatalogEntry&) const = default;
};

// One message of the catalog topic after decoding: an entry, or a tombstone
// (the item is withdrawn: never recommended again until a new entry arrives).
struct CatalogUpdate {
  CatalogEntry entry;  // entry.item_id is always set
  bool removed = false;
};

}  // namespace streamrec
