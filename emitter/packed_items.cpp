#include "emitter/packed_items.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <limits>

#include <Eigen/Core>

namespace streamrec::emitter {
namespace {

constexpr size_t kGroupRows = 16;  // rows per group norm (a bfloat16 block)

// Rounding to bfloat16 moves each component by at most 2^-9 of itself, so a
// rounded row's norm is at most (1 + 2^-9) times the row's: 2^-8 leaves room
// for the float32 sums of the norms and of the products (float32 rows need
// less; the same slack keeps one bound for both layouts).
constexpr float kRoundingSlack = 1.0F + 1.0F / 256;

// Sorts `keys` (a row's key in the high half, the row in the low) by key,
// rows of equal keys in their present order: least significant digit first,
// three passes of 11 bits.
void RadixSortByKey(std::vector<uint64_t>* keys, std::vector<uint64_t>* scratch) {
  constexpr int kBits = 11;
  constexpr size_t kBuckets = size_t{1} << kBits;
  scratch->resize(keys->size());
  for (int shift = 32; shift < 64; shift += kBits) {
    std::vector<size_t> start(kBuckets + 1, 0);
    for (uint64_t k : *keys) ++start[((k >> shift) & (kBuckets - 1)) + 1];
    for (size_t b = 1; b <= kBuckets; ++b) start[b] += start[b - 1];
    for (uint64_t k : *keys) (*scratch)[start[(k >> shift) & (kBuckets - 1)]++] = k;
    keys->swap(*scratch);
  }
}

}  // namespace

void PackedItems::AllocateWords(size_t rows, size_t dim, size_t words) {
  layout_ = Layout::kBf16;
  floats_.clear();
  // 16 spare words: the blocks start on a 64-byte boundary inside the vector.
  storage_.resize(words + kGroupRows);
  offset_ = (64 - reinterpret_cast<uintptr_t>(storage_.data()) % 64) % 64 / sizeof(uint32_t);
  this->rows = rows;
  this->dim = dim;
}

void PackedItems::ClearOrder() {
  order_.clear();
  position_.clear();
  group_norms_.clear();
}

// order = rows by descending bound for a query of by's norm (ties: smaller
// row first); group_norms = each 16-row group's largest norm, with the
// rounding slack.
void PackedItems::OrderByBound(const float* items, size_t rows, size_t dim, const ByBound& by) {
  using RowMajor = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  const Eigen::Map<const RowMajor> m(items, static_cast<Eigen::Index>(rows), static_cast<Eigen::Index>(dim));
  norms_.resize(rows);
  Eigen::Map<Eigen::VectorXf>(norms_.data(), static_cast<Eigen::Index>(rows)) = m.rowwise().norm();
  // One 64-bit key per row: the bound's bits made to order as unsigned
  // integers do, inverted for descending, the row in the low half for ties.
  keys_.resize(rows);
  for (size_t r = 0; r < rows; ++r) {
    const float bound = by.query_norm * norms_[r] + (by.biases != nullptr ? by.biases[r] : 0.0F);
    uint32_t bits = std::bit_cast<uint32_t>(std::isnan(bound) ? std::numeric_limits<float>::infinity() : bound);
    bits = (bits & 0x80000000U) != 0 ? ~bits : bits | 0x80000000U;
    keys_[r] = (uint64_t{~bits} << 32) | r;
  }
  RadixSortByKey(&keys_, &key_scratch_);  // rows were in order: ties stay by row
  order_.resize(rows);
  position_.resize(rows);
  group_norms_.assign((rows + kGroupRows - 1) / kGroupRows, 0.0F);
  for (size_t r = 0; r < rows; ++r) order_[r] = static_cast<uint32_t>(keys_[r]);
  for (size_t r = 0; r < rows; ++r) {
    position_[order_[r]] = static_cast<uint32_t>(r);
    float& g = group_norms_[r / kGroupRows];
    g = std::max(g, norms_[order_[r]] * kRoundingSlack);
  }
}

void PackFloat32Items(const float* items, size_t rows, size_t dim, PackedItems* out, const ByBound& order) {
  out->layout_ = PackedItems::Layout::kFloat32;
  out->storage_.clear();
  out->offset_ = 0;
  out->rows = rows;
  out->dim = dim;
  out->OrderByBound(items, rows, dim, order);
  out->floats_.resize(rows * dim);
  const size_t bytes = dim * sizeof(float);
  constexpr size_t kAhead = 8;  // scattered rows: their misses overlap
  for (size_t r = 0; r < rows; ++r) {
    if (r + kAhead < rows) {
      const char* next = reinterpret_cast<const char*>(items + static_cast<size_t>(out->order_[r + kAhead]) * dim);
      for (size_t byte = 0; byte < bytes; byte += 64) __builtin_prefetch(next + byte);
    }
    std::memcpy(out->floats_.data() + r * dim, items + static_cast<size_t>(out->order_[r]) * dim, bytes);
  }
}

}  // namespace streamrec::emitter
