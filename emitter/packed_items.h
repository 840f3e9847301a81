// Item rows laid out once for many dense passes of TopNScorer (topn.h):
// the emitter's copy of the items, read unchanged by every list until the
// next copy.
//
// Two layouts:
// - bfloat16 (PackBf16Items, bf16_product.h): rows rounded to bfloat16 in
//   16-row pair-major blocks, for the AVX-512 BF16 kernel; by id or by bound.
// - float32 (PackFloat32Items): rows as they are, by bound: the exact pass,
//   portable, on CPUs without that kernel.
//
// Packed by bound, the rows go in descending order of query_norm x |row| +
// bias[row], and each 16-row group keeps a bound on its rows' norms: a
// query's score against any row of a group is at most |query| x that bound
// (Cauchy-Schwarz, rounding included) plus the row's bias, so a top-N pass can
// skip the groups that cannot reach its worst kept candidate, and the order
// puts them last for queries of about that norm (TopNScorer does). Items
// that taught the model little (a flood of one-off ids: small norms, no
// popularity) end up in blocks no list reaches. Costs a sort per packing.
// Thread-safety: a PackedItems is written by one thread, then only read.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace streamrec::emitter {

struct ByBound {
  const float* biases = nullptr;  // per row, added to its score (null: none)
  float query_norm = 1.0F;        // a typical query's norm
};

class PackedItems {
 public:
  enum class Layout { kBf16, kFloat32 };

  size_t rows = 0;
  size_t dim = 0;
  Layout layout() const { return layout_; }
  // kBf16: the blocks of pairs (bf16_product.h).
  const uint32_t* words() const { return storage_.data() + offset_; }
  uint32_t* words() { return storage_.data() + offset_; }
  // kFloat32: rows x dim floats, row-major, packed row r = item order()[r].
  const float* floats() const { return floats_.data(); }
  // By bound: packed row r holds item order()[r]. Empty by id (row r is item r).
  std::span<const uint32_t> order() const { return order_; }
  // By bound: the packed row of item i, position()[i]; its inverse. Empty by id.
  std::span<const uint32_t> position() const { return position_; }
  // By bound: per 16-row group, at least the norm of each of its rows (as
  // rounded to bfloat16 in that layout). Empty by id.
  std::span<const float> group_norms() const { return group_norms_; }

 private:
  friend void PackBf16Items(const float* items, size_t rows, size_t dim, PackedItems* out);
  friend void PackBf16Items(const float* items, size_t rows, size_t dim, PackedItems* out, const ByBound& order);
  friend void PackFloat32Items(const float* items, size_t rows, size_t dim, PackedItems* out, const ByBound& order);
  // `words` 32-bit words of bfloat16 blocks, 64-byte aligned.
  void AllocateWords(size_t rows, size_t dim, size_t words);
  // order_, position_ and group_norms_ for `items` (rows x dim) by `by`.
  void OrderByBound(const float* items, size_t rows, size_t dim, const ByBound& by);
  void ClearOrder();

  Layout layout_ = Layout::kBf16;
  std::vector<uint32_t> storage_;
  size_t offset_ = 0;
  std::vector<float> floats_;
  std::vector<uint32_t> order_;
  std::vector<uint32_t> position_;
  std::vector<float> group_norms_;
  std::vector<float> norms_;  // scratch of the ordering
  std::vector<uint64_t> keys_, key_scratch_;
};

// Packs `rows` x `dim` floats (row-major) by bound, in float32; reuses out's
// buffers. Portable.
void PackFloat32Items(const float* items, size_t rows, size_t dim, PackedItems* out, const ByBound& order);

}  // namespace streamrec::emitter
