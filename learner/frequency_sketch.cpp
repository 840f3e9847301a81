#include "learner/frequency_sketch.h"

#include <algorithm>
#include <bit>
#include <limits>

#include "common/hash.h"

namespace streamrec::learner {

namespace {

constexpr int kDoorBits = 7;          // bits set per key in its block
constexpr size_t kDoorBitsPerKey = 10;  // ~1 % false positives at a full period of distinct keys

}  // namespace

FrequencySketch::FrequencySketch(size_t width)
    : mask_(std::bit_ceil(std::max<size_t>(width, 64)) - 1), halve_every_(10 * (mask_ + 1)) {
  for (std::vector<uint8_t>& row : rows_) row.assign(mask_ + 1, 0);
  door_.assign(std::bit_ceil(halve_every_ * kDoorBitsPerKey / 512), {});
}

FrequencySketch::DoorProbe FrequencySketch::Probe(uint64_t key) const {
  const uint64_t h = Mix64(key ^ 0xd6e8feb86659fd93ULL);
  return {h & (door_.size() - 1), Mix64(h)};  // 9 bits per position, 7 positions: 63 bits
}

bool FrequencySketch::Seen(uint64_t key) const {
  const DoorProbe p = Probe(key);
  uint64_t bits = p.positions;
  for (int k = 0; k < kDoorBits; ++k, bits >>= 9) {
    if ((door_[p.block][(bits & 511) >> 6] & (uint64_t{1} << (bits & 63))) == 0) return false;
  }
  return true;
}

bool FrequencySketch::Admit(uint64_t key) {
  const DoorProbe p = Probe(key);
  bool all_set = true;
  uint64_t bits = p.positions;
  for (int k = 0; k < kDoorBits; ++k, bits >>= 9) {
    uint64_t& word = door_[p.block][(bits & 511) >> 6];
    const uint64_t mask = uint64_t{1} << (bits & 63);
    all_set = all_set && (word & mask) != 0;
    word |= mask;
  }
  return all_set;
}

size_t FrequencySketch::Slot(uint64_t key, size_t row) const {
  // One mix per row: independent enough for four rows, cheaper than four hashes.
  return static_cast<size_t>(Mix64(key + 0x9e3779b97f4a7c15ULL * (row + 1))) & mask_;
}

uint32_t FrequencySketch::Add(uint64_t key) {
  if (++additions_ >= halve_every_) Halve();
  if (!Admit(key)) return 1 + Counted(key);  // a first sighting: the counters are left alone
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
  // The doorkeeper's sighting, and the counters' (this one included).
  return std::min<uint32_t>(estimate + 2, std::numeric_limits<uint8_t>::max());
}

uint32_t FrequencySketch::Counted(uint64_t key) const {
  uint32_t estimate = std::numeric_limits<uint32_t>::max();
  for (size_t r = 0; r < rows_.size(); ++r) estimate = std::min<uint32_t>(estimate, rows_[r][Slot(key, r)]);
  return estimate;
}

uint32_t FrequencySketch::Estimate(uint64_t key) const {
  return std::min<uint32_t>(Counted(key) + (Seen(key) ? 1 : 0), std::numeric_limits<uint8_t>::max());
}

void FrequencySketch::Halve() {
  for (std::vector<uint8_t>& row : rows_) {
    for (uint8_t& c : row) c = static_cast<uint8_t>(c >> 1);
  }
  std::fill(door_.begin(), door_.end(), std::array<uint64_t, 8>{});
  additions_ = 0;
}

}  // namespace streamrec::learner
