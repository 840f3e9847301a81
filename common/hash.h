// Small, stable hashes: the values are persisted (checksums) and seed RNGs, so
// they must not change between builds or platforms (std::hash may).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string_view>

namespace streamrec {

// FNV-1a 64 over bytes, continuing from `seed`.
inline uint64_t Fnv1a64(std::string_view bytes, uint64_t seed = 0xcbf29ce484222325ULL) {
  uint64_t h = seed;
  for (unsigned char c : bytes) {
    h ^= c;
    h *= 0x100000001b3ULL;
  }
  return h;
}

// SplitMix64 finaliser: mixes an integer into a well-distributed 64-bit value.
inline uint64_t Mix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

inline uint64_t HashCombine(uint64_t a, uint64_t b) { return Mix64(a ^ (b + 0x9e3779b97f4a7c15ULL + (a << 6) + (a >> 2))); }

// For unordered containers keyed by std::string that are looked up by
// string_view without building a string (with std::equal_to<>). In-memory only:
// std::hash may differ between builds, so never persist these values.
struct StringViewHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>()(s); }
};

}  // namespace streamrec
