// FrequencySketch: how often each key was seen lately, approximately, in
// fixed memory (a count-min sketch of 4 rows of 8-bit counters, halved
// every 10 x width increments so that old popularity fades: TinyLFU's
// admission filter, Einziger et al. 2017). Overestimates only.
//
// Memory: 4 bytes per unit of width. Thread-safety: none; one owner.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace streamrec::learner {

class FrequencySketch {
 public:
  // `width` is rounded up to a power of two, at least 64.
  explicit FrequencySketch(size_t width);

  // Counts one more sighting of `key` (a hash); returns its estimate after it.
  uint32_t Add(uint64_t key);
  uint32_t Estimate(uint64_t key) const;
  size_t width() const { return mask_ + 1; }

 private:
  size_t Slot(uint64_t key, size_t row) const;
  void Halve();

  size_t mask_;
  std::array<std::vector<uint8_t>, 4> rows_;
  uint64_t additions_ = 0;
  uint64_t halve_every_;
};

}  // namespace streamrec::learner
