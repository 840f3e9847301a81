#include "emitter/bf16_product.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <limits>

#include <immintrin.h>

#include <Eigen/Core>

namespace streamrec::emitter {
namespace {

constexpr size_t kLanes = 16;       // float32 lanes of a 512-bit register
constexpr size_t kUserGroup = 8;    // accumulators kept in registers at once
constexpr size_t kMaxPairs = 256;  // dim up to 512 (learner.dim's bound)

size_t Pairs(size_t dim) { return (dim + 1) / 2; }

#define STREAMREC_BF16 __attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16")))

// r[i] (16 lanes of 32 bits) becomes column i of the 16 x 16 input.
STREAMREC_BF16 inline void Transpose16x16(__m512i r[16]) {
  __m512i t[16];
  for (int i = 0; i < 8; ++i) {
    t[2 * i] = _mm512_unpacklo_epi32(r[2 * i], r[2 * i + 1]);
    t[2 * i + 1] = _mm512_unpackhi_epi32(r[2 * i], r[2 * i + 1]);
  }
  for (int i = 0; i < 4; ++i) {
    r[4 * i] = _mm512_unpacklo_epi64(t[4 * i], t[4 * i + 2]);
    r[4 * i + 1] = _mm512_unpackhi_epi64(t[4 * i], t[4 * i + 2]);
    r[4 * i + 2] = _mm512_unpacklo_epi64(t[4 * i + 1], t[4 * i + 3]);
    r[4 * i + 3] = _mm512_unpackhi_epi64(t[4 * i + 1], t[4 * i + 3]);
  }
  for (int i = 0; i < 2; ++i) {
    for (int j = 0; j < 4; ++j) {
      t[8 * i + j] = _mm512_shuffle_i32x4(r[8 * i + j], r[8 * i + j + 4], 0x88);
      t[8 * i + j + 4] = _mm512_shuffle_i32x4(r[8 * i + j], r[8 * i + j + 4], 0xdd);
    }
  }
  for (int j = 0; j < 8; ++j) {
    r[j] = _mm512_shuffle_i32x4(t[j], t[j + 8], 0x88);
    r[j + 8] = _mm512_shuffle_i32x4(t[j], t[j + 8], 0xdd);
  }
}

// 16 item rows (fewer at the end: the rest are zero) as bfloat16 pairs, pair-
// major: out[k] holds pair k of each of the 16 rows, one per lane. `row(i)`
// is row i's first float.
template <class RowFn>
STREAMREC_BF16 void PackItemBlock(RowFn row_of, size_t rows, size_t dim, __m512i* out) {
  const size_t registers = (Pairs(dim) + kLanes - 1) / kLanes;
  __m512i r[kLanes];
  for (size_t z = 0; z < registers; ++z) {
    const size_t first = z * 2 * kLanes;  // 32 floats per register of pairs
    const size_t lo_n = std::min(kLanes, dim > first ? dim - first : 0);
    const size_t hi_n = std::min(kLanes, dim > first + kLanes ? dim - first - kLanes : 0);
    const __mmask16 lo_mask = static_cast<__mmask16>((1U << lo_n) - 1);
    const __mmask16 hi_mask = static_cast<__mmask16>((1U << hi_n) - 1);
    for (size_t i = 0; i < kLanes; ++i) {
      if (i >= rows) {
        r[i] = _mm512_setzero_si512();
        continue;
      }
      const float* row = row_of(i) + first;
      const __m512 lo = _mm512_maskz_loadu_ps(lo_mask, row);
      const __m512 hi = _mm512_maskz_loadu_ps(hi_mask, row + kLanes);
      r[i] = reinterpret_cast<__m512i>(_mm512_cvtne2ps_pbh(hi, lo));  // lane j = (x[2j], x[2j+1])
    }
    Transpose16x16(r);
    for (size_t i = 0; i < kLanes; ++i) out[z * kLanes + i] = r[i];
  }
}

STREAMREC_BF16 void PackItemBlock(const float* items, size_t rows, size_t dim, __m512i* out) {
  PackItemBlock([&](size_t i) { return items + i * dim; }, rows, dim, out);
}

// Scores of two packed 16-row blocks (32 items) for G <= 8 users: 2G
// accumulators hide the multiply-add latency, and each item register loaded
// serves G users.
template <size_t G>
// `q`: G users' pairs, `pairs` apart; scores of user j start at scores + j * score_stride.
STREAMREC_BF16 void ScoreGroup(const __m512i* a, const __m512i* b, size_t pairs, const uint32_t* q, float* scores,
                               size_t score_stride, __mmask16 mask_a, __mmask16 mask_b) {
  __m512 acc_a[G];
  __m512 acc_b[G];
  for (size_t j = 0; j < G; ++j) acc_a[j] = acc_b[j] = _mm512_setzero_ps();
  for (size_t k = 0; k < pairs; ++k) {
    const __m512bh items_a = reinterpret_cast<__m512bh>(a[k]);
    const __m512bh items_b = reinterpret_cast<__m512bh>(b[k]);
    for (size_t j = 0; j < G; ++j) {
      const __m512bh user = reinterpret_cast<__m512bh>(_mm512_set1_epi32(static_cast<int>(q[j * pairs + k])));
      acc_a[j] = _mm512_dpbf16_ps(acc_a[j], items_a, user);
      acc_b[j] = _mm512_dpbf16_ps(acc_b[j], items_b, user);
    }
  }
  for (size_t j = 0; j < G; ++j) {
    _mm512_mask_storeu_ps(scores + j * score_stride, mask_a, acc_a[j]);
    _mm512_mask_storeu_ps(scores + j * score_stride + kLanes, mask_b, acc_b[j]);
  }
}

__mmask16 FirstLanes(size_t n) { return static_cast<__mmask16>((1U << n) - 1); }

size_t BlockRegisters(size_t dim) { return (Pairs(dim) + kLanes - 1) / kLanes * kLanes; }

// Scores rows [0, rows) for every user; `block(first, n, scratch)` returns
// the packed 16-row block of rows [first, first + n), in `scratch` or not.
template <class BlockFn>
STREAMREC_BF16 void ProductOf(size_t rows, size_t dim, const PackedQueries& queries, float* scores, BlockFn block) {
  const size_t pairs = Pairs(dim);
  alignas(64) __m512i scratch_a[kMaxPairs / kLanes * kLanes];
  alignas(64) __m512i scratch_b[kMaxPairs / kLanes * kLanes];
  for (size_t first = 0; first < rows; first += 2 * kLanes) {
    const size_t n_a = std::min(kLanes, rows - first);
    const size_t n_b = std::min(kLanes, rows - first - n_a);
    const __m512i* a = block(first, n_a, scratch_a);
    const __m512i* b = block(first + n_a, n_b, scratch_b);
    for (size_t u = 0; u < queries.users; u += kUserGroup) {
      const uint32_t* q = queries.pairs.data() + u * pairs;
      float* out = scores + u * rows + first;
      const __mmask16 mask_a = FirstLanes(n_a);
      const __mmask16 mask_b = FirstLanes(n_b);
      switch (std::min(kUserGroup, queries.users - u)) {
        case 1: ScoreGroup<1>(a, b, pairs, q, out, rows, mask_a, mask_b); break;
        case 2: ScoreGroup<2>(a, b, pairs, q, out, rows, mask_a, mask_b); break;
        case 3: ScoreGroup<3>(a, b, pairs, q, out, rows, mask_a, mask_b); break;
        case 4: ScoreGroup<4>(a, b, pairs, q, out, rows, mask_a, mask_b); break;
        case 5: ScoreGroup<5>(a, b, pairs, q, out, rows, mask_a, mask_b); break;
        case 6: ScoreGroup<6>(a, b, pairs, q, out, rows, mask_a, mask_b); break;
        case 7: ScoreGroup<7>(a, b, pairs, q, out, rows, mask_a, mask_b); break;
        default: ScoreGroup<8>(a, b, pairs, q, out, rows, mask_a, mask_b); break;
      }
    }
  }
}

STREAMREC_BF16 void Product(const float* items, size_t rows, size_t dim, const PackedQueries& queries, float* scores) {
  ProductOf(rows, dim, queries, scores, [&](size_t first, size_t n, __m512i* scratch) -> const __m512i* {
    PackItemBlock(items + first * dim, n, dim, scratch);
    return scratch;
  });
}

STREAMREC_BF16 void ProductPacked(const PackedItems& items, size_t first_row, size_t rows,
                                  const PackedQueries& queries, float* scores) {
  const size_t block_words = BlockRegisters(items.dim) * kLanes;
  const __m512i* base = reinterpret_cast<const __m512i*>(items.words());
  ProductOf(rows, items.dim, queries, scores, [&](size_t first, size_t n, __m512i* scratch) -> const __m512i* {
    if (n == 0) {  // past the last row: a zero block
      // memset, not _mm512_setzero_si512: a lambda does not take the
      // enclosing function's target attribute, and without AVX-512 in the
      // build's -march the intrinsic would not compile here.
      std::memset(static_cast<void*>(scratch), 0, BlockRegisters(items.dim) * sizeof(__m512i));
      return scratch;
    }
    return base + (first_row + first) / kLanes * (block_words / kLanes);
  });
}

STREAMREC_BF16 void PackAll(const float* items, size_t rows, size_t dim, PackedItems* out) {
  const size_t registers = BlockRegisters(dim);
  __m512i* base = reinterpret_cast<__m512i*>(out->words());
  for (size_t first = 0, b = 0; first < rows; first += kLanes, ++b) {
    PackItemBlock(items + first * dim, std::min(kLanes, rows - first), dim, base + b * registers);
  }
}

// Rows in `order`, sixteen at a time, the next sixteen asked for meanwhile
// (scattered rows: their misses overlap).
STREAMREC_BF16 void PackGathered(const float* items, std::span<const uint32_t> order, size_t dim, PackedItems* out) {
  const size_t registers = BlockRegisters(dim);
  __m512i* base = reinterpret_cast<__m512i*>(out->words());
  auto row_of = [&](size_t r) { return items + static_cast<size_t>(order[r]) * dim; };
  for (size_t first = 0, b = 0; first < order.size(); first += kLanes, ++b) {
    for (size_t r = first + kLanes; r < std::min(order.size(), first + 2 * kLanes); ++r) {
      for (size_t byte = 0; byte < dim * sizeof(float); byte += 64) {
        __builtin_prefetch(reinterpret_cast<const char*>(row_of(r)) + byte);
      }
    }
    const size_t n = std::min(kLanes, order.size() - first);
    PackItemBlock([&](size_t i) { return row_of(first + i); }, n, dim, base + b * registers);
  }
}

}  // namespace

bool Bf16Available() {
  static const bool available = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                                __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512bf16");
  return available;
}

uint16_t ToBf16(float x) {
  const uint32_t bits = std::bit_cast<uint32_t>(x);
  if (std::isnan(x)) return static_cast<uint16_t>((bits >> 16) | 0x40);
  const uint32_t rounding = 0x7FFF + ((bits >> 16) & 1);
  return static_cast<uint16_t>((bits + rounding) >> 16);
}

float FromBf16(uint16_t x) { return std::bit_cast<float>(static_cast<uint32_t>(x) << 16); }

void PackBf16Queries(std::span<const float> queries, size_t dim, size_t count, PackedQueries* out) {
  const size_t pairs = Pairs(dim);
  out->users = count;
  out->pairs.assign(out->users * pairs, 0);
  for (size_t u = 0; u < count; ++u) {
    for (size_t d = 0; d < dim; ++d) {
      const uint32_t half = ToBf16(queries[u * dim + d]);
      out->pairs[u * pairs + d / 2] |= d % 2 == 0 ? half : half << 16;
    }
  }
}

void Bf16Product(const float* items, size_t rows, size_t dim, const PackedQueries& queries, float* scores) {
  Product(items, rows, dim, queries, scores);
}

void PackBf16Items(const float* items, size_t rows, size_t dim, PackedItems* out) {
  out->AllocateWords(rows, dim, (rows + kLanes - 1) / kLanes * BlockRegisters(dim) * kLanes);
  out->ClearOrder();
  PackAll(items, rows, dim, out);
}

void PackBf16Items(const float* items, size_t rows, size_t dim, PackedItems* out, const ByBound& order) {
  out->AllocateWords(rows, dim, (rows + kLanes - 1) / kLanes * BlockRegisters(dim) * kLanes);
  out->OrderByBound(items, rows, dim, order);
  PackGathered(items, out->order_, dim, out);
}

void Bf16ProductPacked(const PackedItems& items, size_t first, size_t rows, const PackedQueries& queries,
                       float* scores) {
  ProductPacked(items, first, rows, queries, scores);
}

}  // namespace streamrec::emitter
