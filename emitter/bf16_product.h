// Reduced-precision scoring for candidate generation: item rows and query
// vectors rounded to bfloat16 (8-bit mantissa), products summed in float32
// with AVX-512 BF16 (VDPBF16PS, 32 multiply-adds per instruction, twice the
// float32 FMA's). TopNScorer keeps extra candidates from these scores and
// re-ranks them exactly in float32 (see topn.h).
//
// Bf16Product reads the item matrix as it is (float32, row-major) and
// converts it block by block on the fly: no second copy to keep in step.
// Bf16ProductPacked reads items packed once (PackBf16Items): half the bytes
// and no conversion per product, for a matrix that many products read
// unchanged (the emitter's copy of the items).
// Thread-safety: the functions are pure.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "emitter/packed_items.h"

namespace streamrec::emitter {

// Whether this CPU has AVX-512 BF16 (checked at run time: machines differ).
bool Bf16Available();

// Query vectors rounded to bfloat16 pairs for Bf16Product: `count` vectors
// of `dim` floats (contiguous) -> `count` rows of pairs.
struct PackedQueries {
  std::vector<uint32_t> pairs;  // users x Bf16Pairs(dim)
  size_t users = 0;
};
void PackBf16Queries(std::span<const float> queries, size_t dim, size_t count, PackedQueries* out);

// scores[u * rows + r] = item row r . query u (bfloat16 inputs, float32 sums)
// for r < rows, u < queries.users. `items`: rows x dim, row-major.
// Precondition: Bf16Available().
void Bf16Product(const float* items, size_t rows, size_t dim, const PackedQueries& queries, float* scores);

// Packs `rows` x `dim` floats (row-major) rounded to bfloat16 and laid out
// as Bf16Product uses them: blocks of 16 rows, pair-major, 64-byte aligned
// (dim x 2 bytes per row); by id or by bound (packed_items.h). Reuses out's
// buffers. Precondition: Bf16Available().
void PackBf16Items(const float* items, size_t rows, size_t dim, PackedItems* out);
void PackBf16Items(const float* items, size_t rows, size_t dim, PackedItems* out, const ByBound& order);
// As Bf16Product, over rows [first, first + rows) of packed items; `first`
// a multiple of 16. Precondition: Bf16Available().
void Bf16ProductPacked(const PackedItems& items, size_t first, size_t rows, const PackedQueries& queries,
                       float* scores);

// Rounds a float to the nearest bfloat16 (ties to even), as the CPU does.
uint16_t ToBf16(float x);
float FromBf16(uint16_t x);

}  // namespace streamrec::emitter
