// Exact top-N selection over all items, batched: a block of item rows is
// scored against a batch of query vectors with one matrix product (Eigen),
// and each query keeps a bounded min-heap of its best candidates (fused
// top-k: scores never leave the cache as a full matrix).
//
// With ScoringPrecision::kBFloat16 (on CPUs with AVX-512 BF16, see
// bf16_product.h) the dense pass runs in bfloat16 and keeps 2n candidates,
// which are then re-scored exactly in float32: the returned scores are exact,
// and an item is missed only when bfloat16 rounding drops it below 2n others
// (recall@20 against exact: docs/BENCHMARKS.md).
//
// Over items packed by bound (packed_items.h: the emitter's copy; bfloat16
// blocks, or float32 rows where the CPU lacks AVX-512 BF16), blocks of rows
// are scored largest bound first, and a block is skipped for a query when
// |query| x the block's largest norm + its largest per-item term cannot reach
// the query's worst kept candidate (Cauchy-Schwarz): the lists are those of
// the full pass, but on learned items (norms and popularity terms skewed)
// ~2 % of the item-user pairs get scored, and items the model knows nothing
// about (a flood of one-off ids) sit in blocks no list reaches
// (docs/BENCHMARKS.md). Boosted items of skipped blocks are scored alone when
// their boost can lift them into the list.
//
// By id, a view with block bounds (ItemMatrixView::block_norms: the
// learner's own items, as the live quality probe and `eval` score them) is
// skipped the same way, block by block in id order, below a floor the boosted
// items guarantee (their terms and boosts less |query| x their rows' norm
// bounds, no row read): where co-occurrence or the session neighbours weigh much more than the
// factorisation, most blocks cannot reach the list (docs/BENCHMARKS.md,
// "Offline replay"). Float32 products only (a bfloat16 product could exceed
// the bound). The lists are those of the pass without bounds.
//
// Ties are broken by smaller ItemId, so results are deterministic. Items whose
// per-item term (ItemMatrixView::biases) is -inf are never returned.
// Thread-safety: a TopNScorer is used by one thread at a time.
#pragma once

#include <cstddef>
#include <memory>
#include <span>
#include <utility>
#include <vector>

#include "common/ids.h"
#include "common/state.h"
#include "emitter/bf16_product.h"
#include "emitter/packed_items.h"

namespace streamrec::emitter {

struct ScoredItem {
  ItemId item;
  float score = 0.0F;
};

struct TopNQuery {
  std::span<const float> vector;   // dim floats
  std::span<const ItemId> exclude; // items never to return (any order; sorted is cheaper)
  // Non-negative additions to the scores of a few items (ids unique), added
  // in the dense pass (and again when candidates are re-scored).
  std::span<const std::pair<ItemId, float>> boosts;
};

enum class ScoringPrecision { kFloat32, kBFloat16 };

// Items scored per block at most; fewer for large query batches, so the
// block's scores (rows x queries floats) stay within ~1 MiB of cache.
inline constexpr size_t kMaxBlockRows = 4096;
// Below this many users, rows not packed in bfloat16 (topn.cpp) are scored in
// float32: packing them for each product costs more than it saves.
inline constexpr size_t kMinUsersToPackBf16 = 8;
size_t BlockRowsFor(size_t queries, size_t max_rows = kMaxBlockRows);

class ScoringThreads;

// Items per thread below which the dense pass stays on one thread.
inline constexpr size_t kMinRowsPerThread = 16384;

class TopNScorer {
 public:
  // `n` >= 1 results per query; `block_rows` items scored per matrix product
  // at most (see BlockRowsFor).
  // kBFloat16 falls back to kFloat32 where the CPU lacks AVX-512 BF16.
  // `threads` (1..64, the caller's included) split the dense pass by item
  // ranges (whole blocks), each keeping its own candidates, merged after:
  // the results are those of one thread, bit for bit. Used from
  // kMinRowsPerThread items per thread.
  explicit TopNScorer(size_t n, size_t block_rows = kMaxBlockRows,
                      ScoringPrecision precision = ScoringPrecision::kFloat32, size_t threads = 1);
  ~TopNScorer();
  TopNScorer(TopNScorer&&) noexcept;
  TopNScorer& operator=(TopNScorer&&) noexcept;

  // out[k] = the best min(n, eligible items) items for queries[k], best first.
  // `packed`: the first packed->rows of the same items, packed once
  // (packed_items.h). bfloat16 blocks (PackBf16Items) serve kBFloat16 only,
  // instead of converting rows on the fly; float32 rows by bound
  // (PackFloat32Items) serve either precision. Rows past them (items added
  // since the packing) are scored by id.
  void Score(const ItemMatrixView& items, std::span<const TopNQuery> queries,
             std::vector<std::vector<ScoredItem>>* out, const PackedItems* packed = nullptr);

  size_t n() const { return n_; }
  // Of the last Score, the share of item-query pairs the dense pass scored:
  // 1 but for items packed by bound (packed_items.h), where it
  // skips blocks that cannot reach a query's list.
  double scored_fraction() const { return scored_fraction_; }
  ScoringPrecision precision() const { return precision_; }

 private:
  // One thread's share of the dense pass: its scores and candidates.
  struct DenseShare {
    std::vector<float> block_scores;               // block_rows x batch, column-major
    std::vector<std::vector<ScoredItem>> heaps;    // per query, at most keep_
    std::vector<uint32_t> active;                  // queries scored in the current block
    PackedQueries active_packed;                   // their vectors, when fewer than all (bfloat16 blocks)
    std::vector<float> active_columns;             // their vectors, when fewer than all (float32 rows)
    size_t products = 0;                           // item-query scores computed
    std::vector<uint8_t> scored_blocks;            // by bound: query x block, 1 when scored
    std::vector<ScoredItem> boosted_scores;        // a block's boosted items, scored, before the heap
  };
  // Rows [begin, end) of a dense pass, one block every `step` rows. `ids[r]`
  // is row r's item (null: item r), `bias[r]` its per-item term. `by_bound`:
  // rows of packed_items_ packed by bound, blocks that cannot reach a query's
  // worst kept candidate are skipped for it, and the pass ends where no later
  // block can reach any.
  struct RowRange {
    size_t begin = 0;
    size_t end = 0;
    size_t step = 0;
    const uint32_t* ids = nullptr;
    const float* bias = nullptr;
    bool by_bound = false;
  };
  // The queries a block is scored for: `count` of them, as bfloat16 pairs
  // (bfloat16 passes) and as float32 columns (dim x count, column-major).
  struct BlockQueries {
    const PackedQueries* pairs = nullptr;
    const float* columns = nullptr;
    size_t count = 0;
  };
  // Scores one block of items for `queries` into `scores`.
  void ScoreBlock(const ItemMatrixView& items, const RowRange& range, size_t first, size_t rows,
                  const BlockQueries& queries, float* scores) const;
  // The dense pass over `range`: candidates into share->heaps. Allocates nothing
  // (but share->active_packed once per size).
  void DensePass(const ItemMatrixView& items, const RowRange& range, size_t block_rows, size_t queries,
                 DenseShare* share);
  // The queries of `share` the block at packed row `first` can still serve
  // into share->active (with their vectors, when not all); false when none
  // can, nor any later block.
  bool SelectActive(size_t first, size_t block_rows, size_t queries, DenseShare* share) const;
  // Query k's candidates among a block's scores, into share->heaps[k].
  void TakeCandidates(const RowRange& range, size_t first, size_t rows, size_t k, const float* col,
                      DenseShare* share) const;
  // Query k's boosted items among a block's scores, into share->heaps[k].
  void TakeBoosted(const RowRange& range, size_t first, size_t rows, size_t k, const float* col,
                   DenseShare* share) const;
  // By-bound passes: the per-item terms in packed order, the bounds per block.
  void PrepareByBound(const ItemMatrixView& items, size_t block_rows);
  // By bound: each query's boosted items among the packed rows, by row.
  void PlaceBoosts();
  // By bound: query k's boosted items in blocks its pass skipped, scored
  // exactly into `heap` where their bound can reach it.
  void TakeSkippedBoosts(const ItemMatrixView& items, size_t k, size_t block_rows, size_t threads,
                         std::vector<ScoredItem>* heap) const;
  // By id, a block of items the dense pass never lists, skipped: query k's
  // boosted items among rows [first, first + rows) scored alone into `heap`.
  void TakeBoostsAlone(const ItemMatrixView& items, size_t first, size_t rows, size_t k,
                       std::vector<ScoredItem>* heap) const;
  // By id with the view's block bounds (ItemMatrixView::block_norms): each
  // query's floor (boost_floor_) from its boosted items' lower bounds; then,
  // per block, whether rows [first, first + rows) can reach any query of
  // `share` (its bound not below the query's worst kept candidate or floor),
  // and the boosted items of a block that cannot, scored alone where their
  // own bound can.
  void SetBoostFloors(const ItemMatrixView& items, size_t queries);
  bool BlockReaches(const ItemMatrixView& items, size_t first, size_t rows, size_t queries,
                    const DenseShare& share) const;
  void TakeSkippedBlockBoosts(const ItemMatrixView& items, size_t first, size_t rows, size_t queries,
                              DenseShare* share) const;
  // The score a candidate of query k must reach in `heap`: its worst kept
  // one's and, by block bounds, the query's floor.
  float Threshold(const std::vector<ScoredItem>& heap, size_t k) const;
  // bfloat16 candidates re-scored exactly, the best n_ kept.
  void Rescore(const ItemMatrixView& items, size_t k, std::vector<ScoredItem>* heap);

  size_t n_;
  size_t block_rows_;
  ScoringPrecision precision_;
  size_t keep_;  // candidates kept per query in the dense pass
  PackedQueries packed_;
  const PackedItems* packed_items_ = nullptr;  // during Score, when given
  const float* listed_biases_ = nullptr;       // during Score: the terms of boosted items
  std::vector<ScoredItem> candidates_;
  std::vector<float> query_matrix_;             // dim x batch, column-major
  std::vector<DenseShare> shares_;              // one per thread
  std::unique_ptr<ScoringThreads> threads_;     // null with one thread
  std::vector<std::vector<ItemId>> exclusions_; // sorted copies
  // Each query's boosts, sorted by item: scored in the dense pass, with the rest.
  std::vector<std::vector<std::pair<ItemId, float>>> boosted_;
  // By bound: each query's boosted items among the packed rows, by row.
  struct PlacedBoost {
    uint32_t row = 0;
    ItemId item;
    float boost = 0.0F;
  };
  std::vector<std::vector<PlacedBoost>> placed_boosts_;
  size_t bound_blocks_ = 0;  // blocks of the packed rows
  double scored_fraction_ = 1.0;  // boosted items are in the heaps before the dense pass
  // By-bound passes: |query| with bfloat16 slack; per-item terms in packed
  // order (gathered for the blocks scored only, once each); per block the
  // largest norm and finite term, and the largest from that block on.
  std::vector<float> query_norms_;
  std::vector<float> packed_bias_;
  std::vector<uint8_t> bias_gathered_;  // per block
  struct BlockBound {
    float norm = 0.0F;
    float bias = 0.0F;
  };
  std::vector<BlockBound> block_bounds_;
  std::vector<BlockBound> suffix_bounds_;
  // By block bounds: the largest norm and term bounds of the blocks of the
  // view that rows [first, first + rows) span.
  static BlockBound BoundOf(const ItemMatrixView& items, size_t first, size_t rows);
  // By id with block bounds (exact float32 products only): per query, the
  // score below which nothing can enter its list (boost_floor_), lowest
  // without bounds.
  bool by_block_bounds_ = false;
  std::vector<float> boost_floor_;
  std::vector<float> boost_lower_bounds_;  // scratch of SetBoostFloors
};

// The bare batched product of `count` query vectors (dim floats each,
// contiguous in `queries`) against every item, in the same blocks as
// TopNScorer (`block_rows` at most), with no selection, exclusion or boost: the arithmetic ceiling the
// scorer is measured against. Returns the sum of the best score per block so
// the work cannot be optimised away.
float ScoreWithoutSelection(const ItemMatrixView& items, std::span<const float> queries, size_t count,
                            size_t block_rows, std::vector<float>* scratch);

// The median norm of the queries' vectors (1 for none): the typical norm to
// pack items by bound for (packed_items.h).
float MedianQueryNorm(std::span<const TopNQuery> queries);

// Scores every item one by one: the reference the batched scorer is tested against.
std::vector<ScoredItem> BruteForceTopN(const ItemMatrixView& items, const TopNQuery& query, size_t n);

}  // namespace streamrec::emitter
