// FlatIndex: an open-addressing hash index from keys to the caller's uint32
// slot numbers; the caller stores the keys and entries (a slab of its own).
//
// Why not std::unordered_map: with a million users its lookups were ~15 % of
// the pipeline's thread, nearly all cache and TLB misses (bucket array, then
// the node before, then the node). Here a lookup reads one 8-byte probe
// slot (linear probing, load at most 1/2) holding 32 bits of the hash and the
// caller's slot: a key that is absent is found absent without touching any
// entry, a present one costs one entry read to confirm its key. Prefetch()
// lets a caller start those misses a few lookups ahead.
//
// Hashes: any well-mixed 64-bit value; equal keys must give equal hashes.
// Capacity grows by doubling (a rehash reads only the probe array).
// Thread-safety: none.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

namespace streamrec {

class FlatIndex {
 public:
  FlatIndex() = default;

  // The slot whose key `equals(slot)` confirms, among those with this hash.
  template <class Equals>
  [[nodiscard]] std::optional<uint32_t> Find(uint64_t hash, Equals equals) const {
    if (size_ == 0) return std::nullopt;
    const uint32_t tag = Tag(hash);
    for (size_t i = Home(tag);; i = (i + 1) & mask_) {
      const uint64_t probe = probes_[i];
      if (probe == kEmpty) return std::nullopt;
      if (TagOf(probe) == tag && equals(SlotOf(probe))) return SlotOf(probe);
    }
  }

  // Adds `slot` under `hash`. Preconditions: no slot with an equal key is
  // indexed; slot < UINT32_MAX (slots are stored plus one).
  void Insert(uint64_t hash, uint32_t slot) {
    if ((size_ + 1) * 2 > probes_.size()) Grow();
    Place(Tag(hash), slot);
    ++size_;
  }

  // Removes `slot`, indexed under `hash`; false if it is not.
  bool Erase(uint64_t hash, uint32_t slot) {
    if (size_ == 0) return false;
    const uint32_t tag = Tag(hash);
    size_t i = Home(tag);
    for (;; i = (i + 1) & mask_) {
      if (probes_[i] == kEmpty) return false;
      if (TagOf(probes_[i]) == tag && SlotOf(probes_[i]) == slot) break;
    }
    // Backward shift: later probes of the run move into the hole when their
    // home is not between the hole and them (no tombstones, lookups stay short).
    for (size_t next = (i + 1) & mask_; probes_[next] != kEmpty; next = (next + 1) & mask_) {
      const size_t home = Home(TagOf(probes_[next]));
      const bool stays = i <= next ? (i < home && home <= next) : (i < home || home <= next);
      if (stays) continue;
      probes_[i] = probes_[next];
      i = next;
    }
    probes_[i] = kEmpty;
    --size_;
    return true;
  }

  // Starts loading the probe slot of `hash` into the cache.
  void Prefetch(uint64_t hash) const {
    if (!probes_.empty()) __builtin_prefetch(&probes_[Home(Tag(hash))]);
  }

  size_t size() const { return size_; }
  void Clear() {
    probes_.assign(probes_.size(), kEmpty);
    size_ = 0;
  }

 private:
  static constexpr uint64_t kEmpty = 0;  // slots are stored plus one
  static constexpr size_t kMinProbes = 16;

  static uint32_t Tag(uint64_t hash) { return static_cast<uint32_t>(hash >> 32) ^ static_cast<uint32_t>(hash); }
  static uint32_t TagOf(uint64_t probe) { return static_cast<uint32_t>(probe >> 32); }
  static uint32_t SlotOf(uint64_t probe) { return static_cast<uint32_t>(probe) - 1; }
  // The tag's bits are the hash's: its low bits pick the home probe.
  size_t Home(uint32_t tag) const { return tag & mask_; }

  void Place(uint32_t tag, uint32_t slot) {
    size_t i = Home(tag);
    while (probes_[i] != kEmpty) i = (i + 1) & mask_;
    probes_[i] = (static_cast<uint64_t>(tag) << 32) | (static_cast<uint64_t>(slot) + 1);
  }

  void Grow() {
    std::vector<uint64_t> old;
    old.swap(probes_);
    probes_.assign(old.empty() ? kMinProbes : old.size() * 2, kEmpty);
    mask_ = probes_.size() - 1;
    for (uint64_t probe : old) {
      if (probe != kEmpty) Place(TagOf(probe), SlotOf(probe));
    }
  }

  std::vector<uint64_t> probes_;
  size_t mask_ = 0;
  size_t size_ = 0;
};

}  // namespace streamrec
