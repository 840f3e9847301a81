// FrequencySketch: how often each key was seen lately, approximately, in
// fixed memory (a count-min sketch of 4 rows of 8-bit counters, halved
// every 10 x width sightings so that old popularity fades: TinyLFU's
// admission filter, Einziger et al. 2017). Overestimates only.
//
// A key's first sighting since the last halving only sets its bits in a
// doorkeeper (a blocked Bloom filter of ~10 bits per sighting of a period,
// cleared at each halving): a flood of ids seen once leaves the counters to
// the ids seen again, and a first sighting's estimate is exactly 1 unless
// the filter errs (~1-2 % of keys when a whole period is new ids).
//
// Memory: 4 bytes per unit of width, and up to 16 for the doorkeeper.
// Thread-safety: none; one owner.
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
  // A key's doorkeeper block and the bit positions in it (9 bits each).
  struct DoorProbe {
    size_t block;
    uint64_t positions;
  };
  DoorProbe Probe(uint64_t key) const;
  // Whether the doorkeeper had `key` (all its bits set); Admit sets them.
  bool Admit(uint64_t key);
  bool Seen(uint64_t key) const;
  uint32_t Counted(uint64_t key) const;  // the counters' estimate alone
  void Halve();

  size_t mask_;
  std::array<std::vector<uint8_t>, 4> rows_;
  uint64_t additions_ = 0;
  uint64_t halve_every_;
  // 512-bit blocks; a key's bits all lie in one block (one cache line).
  std::vector<std::array<uint64_t, 8>> door_;
};

}  // namespace streamrec::learner
