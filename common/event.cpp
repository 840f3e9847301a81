#include "common/event.h"

namespace streamrec {

std::optional<EventType> ParseEventType(std::string_view name) {
  if (name == "view" || name == "click") return EventType::kView;
  if (name == "cart" || name == "add_to_cart") return EventType::kCart;
  if (name == "remove_from_cart") return EventType::kRemoveFromCart;
  if (name == "purchase") return EventType::kPurchase;
  return std::nullopt;
}

std::string_view EventTypeName(EventType type) {
  switch (type) {
    case EventType::kView: return "view";
    case EventType::kCart: return "cart";
    case EventType::kRemoveFromCart: return "remove_from_cart";
    case EventType::kPurchase: return "purchase";
  }
  return "view";
}

}  // namespace streamrec
