#include "learner/frequency_sketch.h"

#include <algorithm>
#include <bit>
#include <limits>

#include "common/hash.h"

namespace streamrec::learner {

FrequencySketch::FrequencySketch(size_t width)
    : mask_(std::bit_ceil(std::max<size_t>(width, 64)) - 1), halve_every_(10 * (mask_ + 1)) {
  for (std::vector<uint8_t>& row : rows_) row.assign(mask_ + 1, 0);
}

size_t FrequencySketch::Slot(uint64_t key, size_t row) const {
  // One mix per row: independent enough for four rows, cheaper than four hashes.
  return static_cast<size_t>(Mix64(key + 0x9e3779b97f4a7c15ULL * (row + 1))) & mask_;
}

uint32_t FrequencySketch::Add(uint64_t key) {
  uint32_t estimate = std::numeric_limits<uint32_t>::max();
  std::array<size_t, 4> slots;
  for (size_t r = 0; r < rows_.size(); ++r) {
    slots[r] = Slot(key, r);
    estimate = std::min<uint32_t>(estimate, rows_[r][slots[r]]);
  }
  // Conservative update: only the counters at the minimum grow (less overestimate).
  for (size_t r = 0; r < rows_.size(); ++r) {
    uint8_t& c = rows_[r][slots[r]];
    if (c == estimate && c < std::numeric_limits<uint8_t>::max()) ++c;
  }
  if (++additions_ >= halve_every_) Halve();
  return std::min<uint32_t>(estimate + 1, std::numeric_limits<uint8_t>::max());
}

uint32_t FrequencySketch::Estimate(uint64_t key) const {
  uint32_t estimate = std::numeric_limits<uint32_t>::max();
  for (size_t r = 0; r < rows_.size(); ++r) estimate = std::min<uint32_t>(estimate, rows_[r][Slot(key, r)]);
  return estimate;
}

void FrequencySketch::Halve() {
  for (std::vector<uint8_t>& row : rows_) {
    for (uint8_t& c : row) c = static_cast<uint8_t>(c >> 1);
  }
  additions_ = 0;
}

}  // namespace streamrec::learner
