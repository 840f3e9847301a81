#include "emitter/rules.h"

#include <cmath>

namespace streamrec::emitter {

Status ListRules::Validate(size_t top_n) const {
  for (const auto& [label, weight] : boost) {
    const bool known = label.starts_with("category:") || label.starts_with("brand:") || label.starts_with("tag:");
    if (!known || label.find(':') + 1 == label.size()) {
      return Status::InvalidArgument("rules.boost: '" + label + "' must be category:<c>, brand:<b> or tag:<t>");
    }
    if (std::isnan(weight) || weight == INFINITY) {
      return Status::InvalidArgument("rules.boost: the weight of '" + label + "' must be a number or -.inf");
    }
  }
  for (const auto& [item, slot] : pins) {
    if (item.empty() || slot < 1 || slot > top_n) {
      return Status::InvalidArgument("rules.pins: '" + item + "' needs a slot in 1..top_n (" + std::to_string(top_n) + ")");
    }
  }
  if (new_item_max_age_s < 0) return Status::InvalidArgument("rules.new_item_max_age_s must be >= 0");
  return Status::Ok();
}

}  // namespace streamrec::emitter
