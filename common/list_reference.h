// Which item of a served list the learner's blend compares the user's next
// new item with (UserRecord::list_reference). The emitter and `streamrec eval`
// both draw it here, by the same rule (not the same draws: a replay scores a
// list before it learns the event, the live pipeline after).
#pragma once

#include <cstddef>
#include <cstdint>

#include "common/hash.h"
#include "common/state.h"

namespace streamrec {

// A position (0-based) of a list of `size` >= 1 items: r with probability
// proportional to 1 / (r + 1), drawn from `salt`. Against the last item alone
// the blend learned to place items inside the list (recall), not at its head;
// positions weighted to the head also teach the order within it (MRR on
// amazon_grocery_rechorus 0.1048 -> 0.1201, recall level on every shared log:
// docs/QUALITY.md).
inline size_t ListReferencePosition(size_t size, uint64_t salt) {
  if (size <= 1) return 0;
  double harmonic = 0.0;
  for (size_t r = 0; r < size; ++r) harmonic += 1.0 / static_cast<double>(r + 1);
  double u = static_cast<double>(Mix64(salt) >> 11) * 0x1.0p-53 * harmonic;  // uniform in [0, harmonic)
  for (size_t r = 0; r + 1 < size; ++r) {
    u -= 1.0 / static_cast<double>(r + 1);
    if (u < 0.0) return r;
  }
  return size - 1;
}

// The salt of the list served to `user` now: its id and its count of events,
// so that each list draws afresh.
inline uint64_t ListReferenceSalt(const UserRecord& user) { return HashCombine(user.id.value(), user.events); }

}  // namespace streamrec
