#include "emitter/topn.h"

#include <algorithm>
#include <bit>
#include <limits>

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

#include <Eigen/Core>

#include "emitter/scoring_threads.h"
#include "emitter/topn_heap.h"

namespace streamrec::emitter {

using topn_detail::Better;
using topn_detail::BoostOf;
using topn_detail::Boosts;
using topn_detail::ById;
using topn_detail::Excluded;
using topn_detail::Offer;
using topn_detail::PrefetchRow;
using topn_detail::WorstKept;

namespace {

using RowMajor = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using ColMajor = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::ColMajor>;

constexpr Eigen::Index kGroup = 16;

// Bit i set when scores[i] + bias[i] >= threshold, i < n <= kGroup: the
// common case, no candidate in sixteen items, costs one vector compare.
uint32_t CandidateMask(const float* scores, const float* bias, Eigen::Index n, float threshold) {
#if defined(__AVX512F__)
  const __mmask16 lanes = static_cast<__mmask16>((1U << n) - 1);
  const __m512 sum = _mm512_add_ps(_mm512_maskz_loadu_ps(lanes, scores), _mm512_maskz_loadu_ps(lanes, bias));
  return _mm512_mask_cmp_ps_mask(lanes, sum, _mm512_set1_ps(threshold), _CMP_GE_OQ);
#else
  uint32_t mask = 0;
  for (Eigen::Index i = 0; i < n; ++i) mask |= static_cast<uint32_t>(scores[i] + bias[i] >= threshold) << i;
  return mask;
#endif
}

// Whether no term of a block is above -inf: items the dense pass never
// lists, not worth their product. Stops at the first listable item.
bool NeverListed(const float* bias, size_t rows) {
  for (size_t r = 0; r < rows; ++r) {
    if (bias[r] > -std::numeric_limits<float>::infinity()) return false;
  }
  return true;
}

// Whether a query's candidates, met in ascending id (a by-id block), are
// excluded or boosted: two cursors that only move forward from the block's
// first id, instead of two searches per candidate. It matters for a user
// with many seen items: they score high, pass the threshold and, excluded,
// never raise it.
class AscendingSkips {
 public:
  AscendingSkips(const std::vector<ItemId>& excluded, const Boosts& boosted, ItemId first)
      : excluded_(std::lower_bound(excluded.begin(), excluded.end(), first)),
        excluded_end_(excluded.end()),
        boosted_(std::lower_bound(boosted.begin(), boosted.end(), first, ById)),
        boosted_end_(boosted.end()) {}

  // `id` no smaller than the previous call's.
  bool Skip(ItemId id) {
    while (excluded_ != excluded_end_ && *excluded_ < id) ++excluded_;
    if (excluded_ != excluded_end_ && *excluded_ == id) return true;
    while (boosted_ != boosted_end_ && boosted_->first < id) ++boosted_;
    return boosted_ != boosted_end_ && boosted_->first == id;
  }

 private:
  std::vector<ItemId>::const_iterator excluded_, excluded_end_;
  Boosts::const_iterator boosted_, boosted_end_;
};

}  // namespace

TopNScorer::TopNScorer(size_t n, size_t block_rows, ScoringPrecision precision, size_t threads)
    : n_(std::max<size_t>(1, n)),
      block_rows_(std::max<size_t>(64, block_rows)),
      precision_(precision == ScoringPrecision::kBFloat16 && Bf16Available() ? precision : ScoringPrecision::kFloat32),
      keep_(precision_ == ScoringPrecision::kBFloat16 ? 2 * n_ : n_),
      shares_(std::clamp<size_t>(threads, 1, 64)) {
  if (shares_.size() > 1) threads_ = std::make_unique<ScoringThreads>(shares_.size());
}

TopNScorer::~TopNScorer() = default;
TopNScorer::TopNScorer(TopNScorer&&) noexcept = default;
TopNScorer& TopNScorer::operator=(TopNScorer&&) noexcept = default;

size_t BlockRowsFor(size_t queries, size_t max_rows) {
  constexpr size_t kScoreBytes = size_t{1} << 20;
  const size_t rows = kScoreBytes / sizeof(float) / std::max<size_t>(1, queries);
  return std::clamp<size_t>(rows / 32 * 32, 256, std::max<size_t>(256, max_rows));
}

void TopNScorer::ScoreBlock(const ItemMatrixView& items, const RowRange& range, size_t first, size_t rows,
                            const BlockQueries& queries, float* scores_out) const {
  const auto dim = static_cast<Eigen::Index>(items.dim);
  const Eigen::Map<const ColMajor> q(queries.columns, dim, static_cast<Eigen::Index>(queries.count));
  Eigen::Map<ColMajor> scores(scores_out, static_cast<Eigen::Index>(rows), static_cast<Eigen::Index>(queries.count));
  const bool packed_bf16 = packed_items_ != nullptr && packed_items_->layout() == PackedItems::Layout::kBf16;
  if (range.by_bound && !packed_bf16) {  // float32 rows in packed order
    const Eigen::Map<const RowMajor> block(packed_items_->floats() + first * items.dim, static_cast<Eigen::Index>(rows),
                                           dim);
    scores.noalias() = block * q;
    return;
  }
  if (range.by_bound ||
      (precision_ == ScoringPrecision::kBFloat16 && packed_bf16 && first + rows <= packed_items_->rows)) {
    Bf16ProductPacked(*packed_items_, first, rows, *queries.pairs, scores_out);
    return;
  }
  // Rows not packed are packed block by block for each product: worth it
  // only over enough users (one user at a time, as the live quality probe
  // and eval score, packing cost ~3x the float32 product). Fewer are scored
  // exactly here: the candidates are then the exact ones.
  if (precision_ == ScoringPrecision::kBFloat16 && queries.count >= kMinUsersToPackBf16) {
    Bf16Product(items.embeddings + first * items.dim, rows, items.dim, *queries.pairs, scores_out);
    return;
  }
  const Eigen::Map<const RowMajor> block(items.embeddings + first * items.dim, static_cast<Eigen::Index>(rows), dim);
  scores.noalias() = block * q;
}

void TopNScorer::TakeCandidates(const RowRange& range, size_t first, size_t rows, size_t k, const float* col,
                                DenseShare* share) const {
  std::vector<ScoredItem>* heap = &share->heaps[k];
  const std::vector<ItemId>& excl = exclusions_[k];
  const Boosts& boosted = boosted_[k];
  // The block's boosted items first: strong candidates, they raise the
  // threshold before the scan (by id, later items, often more recent, kept
  // beating the worst kept one: ~240 heap pushes a list on MovieLens).
  TakeBoosted(range, first, rows, k, col, share);
  const float* bias = range.bias + first;
  const auto n = static_cast<Eigen::Index>(rows);
  // Below the worst kept score nothing can enter: one vector compare per
  // sixteen items on the common path (ties, equal to the threshold, still go to Better).
  // An item whose per-item term is -inf (not allowed in lists) never enters.
  float threshold = Threshold(*heap, k);
  AscendingSkips ascending(excl, boosted, ItemId(static_cast<uint32_t>(first)));  // by id only
  for (Eigen::Index group = 0; group < n; group += kGroup) {
    uint32_t hits = CandidateMask(col + group, bias + group, std::min(kGroup, n - group), threshold);
    for (; hits != 0; hits &= hits - 1) {
      const Eigen::Index r = group + std::countr_zero(hits);
      const float score = col[r] + bias[r];
      if (score < threshold) continue;  // the threshold rose meanwhile
      const size_t row = first + static_cast<size_t>(r);
      const ScoredItem cand{ItemId(range.ids != nullptr ? range.ids[row] : static_cast<uint32_t>(row)), score};
      if (heap->size() == keep_ && !Better(cand, heap->front())) continue;
      const bool skip = range.ids != nullptr ? Excluded(excl, cand.item) || BoostOf(boosted, cand.item) != nullptr
                                             : ascending.Skip(cand.item);
      if (skip) continue;
      Offer(heap, keep_, cand);
      if (heap->size() == keep_) threshold = Threshold(*heap, k);
    }
  }
}

void TopNScorer::TakeBoosted(const RowRange& range, size_t first, size_t rows, size_t k, const float* col,
                             DenseShare* share) const {
  std::vector<ScoredItem>* heap = &share->heaps[k];
  const std::vector<ItemId>& excl = exclusions_[k];
  // Their scores are in the block already (no scattered rows fetched for
  // them), plus their boosts. Only the best keep_ of them can enter: selected
  // first, so that a list's ~256 boosts do not each go through the heap (the
  // lists are the same: Better orders ties).
  const float threshold = Threshold(*heap, k);
  std::vector<ScoredItem>& scored = share->boosted_scores;
  scored.clear();
  auto score_boosted = [&](ItemId item, size_t r, float boost) {
    const ScoredItem cand{item, col[r] + listed_biases_[item.value()] + boost};
    // An item whose per-item term is -inf (not allowed in lists) never enters.
    if (cand.score < std::numeric_limits<float>::lowest() || cand.score < threshold) return;
    scored.push_back(cand);
  };
  if (range.by_bound) {
    const std::vector<PlacedBoost>& placed = placed_boosts_[k];
    auto p = std::lower_bound(placed.begin(), placed.end(), first,
                              [](const PlacedBoost& b, size_t row) { return b.row < row; });
    for (; p != placed.end() && p->row < first + rows; ++p) score_boosted(p->item, p->row - first, p->boost);
  } else {
    const Boosts& boosted = boosted_[k];
    const auto block_end = static_cast<uint32_t>(first + rows);
    for (auto b = std::lower_bound(boosted.begin(), boosted.end(), ItemId(static_cast<uint32_t>(first)), ById);
         b != boosted.end() && b->first.value() < block_end; ++b) {
      score_boosted(b->first, b->first.value() - first, b->second);
    }
  }
  std::erase_if(scored, [&](const ScoredItem& c) { return Excluded(excl, c.item); });
  if (scored.size() > keep_) {
    std::nth_element(scored.begin(), scored.begin() + static_cast<std::ptrdiff_t>(keep_), scored.end(), Better);
    scored.resize(keep_);
  }
  for (const ScoredItem& cand : scored) Offer(heap, keep_, cand);
}

void TopNScorer::DensePass(const ItemMatrixView& items, const RowRange& range, size_t block_rows, size_t queries,
                           DenseShare* share) {
  for (size_t first = range.begin; first < range.end; first += range.step) {
    const size_t rows = std::min(block_rows, range.end - first);
    if (by_block_bounds_) {
      if (!BlockReaches(items, first, rows, queries, *share)) {
        TakeSkippedBlockBoosts(items, first, rows, queries, share);
        continue;
      }
    } else if (!range.by_bound && NeverListed(range.bias + first, rows)) {
      for (size_t k = 0; k < queries; ++k) TakeBoostsAlone(items, first, rows, k, &share->heaps[k]);
      continue;
    }
    BlockQueries scored{&packed_, query_matrix_.data(), queries};
    if (range.by_bound) {
      if (!SelectActive(first, block_rows, queries, share)) break;
      for (uint32_t k : share->active) share->scored_blocks[k * bound_blocks_ + first / block_rows] = 1;
      if (share->active.empty()) continue;
      // Each block is one thread's: its flag and terms are written by that thread only.
      if (bias_gathered_[first / block_rows] == 0) {
        for (size_t r = first; r < first + rows; ++r) packed_bias_[r] = items.biases[range.ids[r]];
        bias_gathered_[first / block_rows] = 1;
      }
      if (share->active.size() < queries) scored = {&share->active_packed, share->active_columns.data(), share->active.size()};
    }
    ScoreBlock(items, range, first, rows, scored, share->block_scores.data());
    share->products += rows * scored.count;
    for (size_t j = 0; j < scored.count; ++j) {
      const size_t k = range.by_bound ? share->active[j] : j;
      TakeCandidates(range, first, rows, k, share->block_scores.data() + j * rows, share);
    }
  }
}

void TopNScorer::TakeBoostsAlone(const ItemMatrixView& items, size_t first, size_t rows, size_t k,
                                 std::vector<ScoredItem>* heap) const {
  const auto dim = static_cast<Eigen::Index>(items.dim);
  const Eigen::Map<const Eigen::VectorXf> q(query_matrix_.data() + k * items.dim, dim);
  const Boosts& boosted = boosted_[k];
  for (auto b = std::lower_bound(boosted.begin(), boosted.end(), ItemId(static_cast<uint32_t>(first)), ById);
       b != boosted.end() && b->first.value() < first + rows; ++b) {
    if (Excluded(exclusions_[k], b->first)) continue;
    const Eigen::Map<const Eigen::VectorXf> e(items.embeddings + b->first.value() * items.dim, dim);
    const ScoredItem cand{b->first, q.dot(e) + listed_biases_[b->first.value()] + b->second};
    // An item whose per-item term is -inf (not allowed in lists) never enters.
    if (cand.score < std::numeric_limits<float>::lowest()) continue;
    Offer(heap, keep_, cand);
  }
}

void TopNScorer::Rescore(const ItemMatrixView& items, size_t k, std::vector<ScoredItem>* heap) {
  const auto dim = static_cast<Eigen::Index>(items.dim);
  const Eigen::Map<const Eigen::VectorXf> q(query_matrix_.data() + k * items.dim, dim);
  candidates_.swap(*heap);
  heap->clear();
  for (const ScoredItem& c : candidates_) {
    const Eigen::Map<const Eigen::VectorXf> e(items.embeddings + c.item.value() * items.dim, dim);
    const float* boost = BoostOf(boosted_[k], c.item);
    const float term = boost != nullptr ? items.ListedBias(c.item.value()) + *boost : items.biases[c.item.value()];
    Offer(heap, n_, {c.item, q.dot(e) + term});
  }
}

float ScoreWithoutSelection(const ItemMatrixView& items, std::span<const float> queries, size_t count,
                            size_t block_rows, std::vector<float>* scratch) {
  const auto dim = static_cast<Eigen::Index>(items.dim);
  const auto batch = static_cast<Eigen::Index>(count);
  const Eigen::Map<const ColMajor> q(queries.data(), dim, batch);
  block_rows = BlockRowsFor(count, block_rows);
  scratch->resize(block_rows * count);
  float sink = 0.0F;
  for (size_t first = 0; first < items.rows; first += block_rows) {
    const auto rows = static_cast<Eigen::Index>(std::min(block_rows, items.rows - first));
    const Eigen::Map<const RowMajor> block(items.embeddings + first * items.dim, rows, dim);
    Eigen::Map<ColMajor> scores(scratch->data(), rows, batch);
    scores.noalias() = block * q;
    sink += scores.maxCoeff();
  }
  return sink;
}

void TopNScorer::Score(const ItemMatrixView& items, std::span<const TopNQuery> queries,
                       std::vector<std::vector<ScoredItem>>* out, const PackedItems* packed) {
  scored_fraction_ = 1.0;
  // bfloat16 blocks serve a bfloat16 pass only; float32 rows, by bound, either (their scores are exact).
  const bool usable = packed != nullptr && packed->rows <= items.rows && packed->dim == items.dim &&
                      (packed->layout() == PackedItems::Layout::kBf16 ? precision_ == ScoringPrecision::kBFloat16
                                                                      : !packed->order().empty());
  packed_items_ = usable ? packed : nullptr;
  listed_biases_ = items.listed_biases != nullptr ? items.listed_biases : items.biases;
  out->resize(queries.size());
  exclusions_.resize(queries.size());
  boosted_.resize(queries.size());
  query_matrix_.resize(items.dim * queries.size());
  for (size_t k = 0; k < queries.size(); ++k) {
    std::copy(queries[k].vector.begin(), queries[k].vector.end(), query_matrix_.begin() + k * items.dim);
    exclusions_[k].assign(queries[k].exclude.begin(), queries[k].exclude.end());
    if (!std::is_sorted(exclusions_[k].begin(), exclusions_[k].end())) {
      std::sort(exclusions_[k].begin(), exclusions_[k].end());
    }
    boosted_[k].assign(queries[k].boosts.begin(), queries[k].boosts.end());
    const auto by_item = [](const auto& a, const auto& b) { return a.first < b.first; };
    if (!std::is_sorted(boosted_[k].begin(), boosted_[k].end(), by_item)) {
      std::sort(boosted_[k].begin(), boosted_[k].end(), by_item);
    }
    // Ids past the matrix (not scored yet) cannot be listed.
    while (!boosted_[k].empty() && boosted_[k].back().first.value() >= items.rows) boosted_[k].pop_back();
    (*out)[k].clear();
  }
  if (items.rows == 0 || queries.empty()) return;
  if (precision_ == ScoringPrecision::kBFloat16) PackBf16Queries(query_matrix_, items.dim, queries.size(), &packed_);
  // Items packed by bound: the packed rows in that order, then the rows added
  // since, by id. Else all rows by id, with the view's block bounds where the
  // products are exact float32 ones (in blocks of their size at most).
  const bool by_bound = packed_items_ != nullptr && !packed_items_->order().empty();
  by_block_bounds_ = !by_bound && items.HasBlockBounds() && packed_items_ == nullptr &&
                     !(precision_ == ScoringPrecision::kBFloat16 && queries.size() >= kMinUsersToPackBf16);
  const size_t block_rows = by_block_bounds_ ? std::min(ItemMatrixView::kBoundRows, BlockRowsFor(queries.size(), block_rows_))
                                             : BlockRowsFor(queries.size(), block_rows_);
  const size_t threads = std::clamp<size_t>(items.rows / kMinRowsPerThread, 1, shares_.size());
  // Everything a share needs is sized here: the pass itself allocates nothing.
  for (size_t t = 0; t < threads; ++t) {
    shares_[t].block_scores.resize(block_rows * queries.size());
    shares_[t].heaps.resize(queries.size());
    shares_[t].products = 0;
    for (std::vector<ScoredItem>& heap : shares_[t].heaps) {
      heap.clear();
      heap.reserve(keep_);
    }
  }
  const size_t ordered = by_bound ? packed_items_->rows : items.rows;
  if (by_bound) {
    PrepareByBound(items, block_rows);
    for (size_t t = 0; t < threads; ++t) shares_[t].scored_blocks.assign(queries.size() * bound_blocks_, 0);
  }
  if (by_block_bounds_) SetBoostFloors(items, queries.size());
  // Each block is the one a single thread scores, so the float32 product
  // rounds alike (bit-identical lists). By id: equal ranges, cut between
  // blocks. By bound: blocks dealt in turn, so that each thread starts with
  // the largest bounds (its worst kept candidate rises soonest).
  const size_t blocks = (ordered + block_rows - 1) / block_rows;
  auto range_begin = [&](size_t t) { return std::min(ordered, blocks * t / threads * block_rows); };
  auto pass = [&](size_t t) {
    if (by_bound) {
      const RowRange dealt{t * block_rows, ordered, threads * block_rows, packed_items_->order().data(),
                           packed_bias_.data(), true};
      DensePass(items, dealt, block_rows, queries.size(), &shares_[t]);
      if (t + 1 < threads) return;
    }
    const size_t begin = by_bound ? ordered : range_begin(t);
    const size_t end = by_bound ? items.rows : range_begin(t + 1);
    DensePass(items, {begin, end, block_rows, nullptr, items.biases, false}, block_rows, queries.size(), &shares_[t]);
  };
  if (threads == 1) {
    pass(0);
  } else {
    threads_->Run([&](size_t t) {
      if (t < threads) pass(t);
    });
  }
  size_t products = 0;
  for (size_t t = 0; t < threads; ++t) products += shares_[t].products;
  scored_fraction_ = static_cast<double>(products) / static_cast<double>(items.rows * queries.size());
  for (size_t k = 0; k < queries.size(); ++k) {
    (*out)[k].swap(shares_[0].heaps[k]);
    for (size_t t = 1; t < threads; ++t) {
      for (const ScoredItem& cand : shares_[t].heaps[k]) Offer(&(*out)[k], keep_, cand);
    }
    if (by_bound) TakeSkippedBoosts(items, k, block_rows, threads, &(*out)[k]);
  }
  if (keep_ != n_) {
    auto prefetch = [&](size_t k) {
      if (k >= queries.size()) return;
      for (const ScoredItem& c : (*out)[k]) PrefetchRow(items, c.item);
    };
    prefetch(0);
    for (size_t k = 0; k < queries.size(); ++k) {
      prefetch(k + 1);  // the next query's rows arrive while this one is re-scored
      Rescore(items, k, &(*out)[k]);
    }
  }
  for (auto& heap : *out) std::sort_heap(heap.begin(), heap.end(), Better);
}

float MedianQueryNorm(std::span<const TopNQuery> queries) {
  std::vector<float> norms;
  norms.reserve(queries.size());
  for (const TopNQuery& q : queries) {
    const Eigen::Map<const Eigen::VectorXf> v(q.vector.data(), static_cast<Eigen::Index>(q.vector.size()));
    norms.push_back(v.norm());
  }
  if (norms.empty()) return 1.0F;
  std::nth_element(norms.begin(), norms.begin() + static_cast<ptrdiff_t>(norms.size() / 2), norms.end());
  return norms[norms.size() / 2];
}

std::vector<ScoredItem> BruteForceTopN(const ItemMatrixView& items, const TopNQuery& query, size_t n) {
  std::vector<ScoredItem> all;
  for (size_t i = 0; i < items.rows; ++i) {
    const ItemId id(static_cast<uint32_t>(i));
    if (std::find(query.exclude.begin(), query.exclude.end(), id) != query.exclude.end()) continue;
    double s = items.biases[i];
    for (const auto& [bid, boost] : query.boosts) {
      if (bid == id) s = double{items.ListedBias(i)} + boost;
    }
    for (size_t d = 0; d < items.dim; ++d) s += double{query.vector[d]} * items.embeddings[i * items.dim + d];
    all.push_back({id, static_cast<float>(s)});
  }
  std::sort(all.begin(), all.end(), Better);
  if (all.size() > n) all.resize(n);
  return all;
}

}  // namespace streamrec::emitter
