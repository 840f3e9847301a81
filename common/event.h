// The event vocabulary shared by every stage.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace streamrec {

enum class EventType : uint8_t { kView = 0, kCart = 1, kRemoveFromCart = 2, kPurchase = 3 };
inline constexpr size_t kEventTypeCount = 4;

// Accepts view (alias click), cart (alias add_to_cart), remove_from_cart, purchase.
std::optional<EventType> ParseEventType(std::string_view name);
std::string_view EventTypeName(EventType type);

// One valid interaction, after decoding. Strings are owned so a batch of events
// outlives the Kafka messages it came from; short ids stay in the SSO buffer.
struct Event {
  std::string user;
  std::string item;
  EventType type = EventType::kView;
  int64_t ts_ms = 0;
  std::string event_id;  // empty when the producer sent none
  // A purchase's optional details (experiment attribution: revenue, basket size).
  double price = -1.0;    // per unit; < 0 when not given (the catalog's price is used)
  uint32_t quantity = 0;  // 0 when not given (one unit)
  // The `seq` of the list the storefront showed, when it echoes it (exact
  // attribution); -1 when not given.
  int64_t list_seq = -1;
};

}  // namespace streamrec
