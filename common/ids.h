// Strong id types: a UserId cannot be passed where an ItemId is expected.
#pragma once

#include <compare>
#include <cstdint>
#include <functional>

namespace streamrec {

template <class Tag, class Rep>
class StrongId {
 public:
  using rep_type = Rep;
  constexpr StrongId() = default;
  constexpr explicit StrongId(Rep value) : value_(value) {}
  constexpr Rep value() const { return value_; }
  constexpr auto operator<=>(const StrongId&) const = default;

 private:
  Rep value_{};
};

// Dense internal ids, assigned in arrival order and persisted in the store.
using UserId = StrongId<struct UserIdTag, uint32_t>;
using ItemId = StrongId<struct ItemIdTag, uint32_t>;
// Kafka coordinates.
using Partition = StrongId<struct PartitionTag, int32_t>;

}  // namespace streamrec

template <class Tag, class Rep>
struct std::hash<streamrec::StrongId<Tag, Rep>> {
  size_t operator()(const streamrec::StrongId<Tag, Rep>& id) const noexcept {
    return std::hash<Rep>{}(id.value());
  }
};
