#include "emitter/topn.h"

#include <algorithm>
#include <bit>
#include <limits>

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

#include <Eigen/Core>

#include "emitter/scoring_threads.h"

namespace streamrec::emitter {
namespace {

using RowMajor = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using ColMajor = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::ColMajor>;

// a ranks before b: higher score, then smaller id.
bool Better(const ScoredItem& a, const ScoredItem& b) {
  return a.score > b.score || (a.score == b.score && a.item < b.item);
}

// Min-heap on "Better": the root is the worst kept candidate.
void Offer(std::vector<ScoredItem>* heap, size_t n, ScoredItem cand) {
  if (heap->size() < n) {
    heap->push_back(cand);
    std::push_heap(heap->begin(), heap->end(), Better);
  } else if (Better(cand, heap->front())) {
    std::pop_heap(heap->begin(), heap->end(), Better);
    heap->back() = cand;
    std::push_heap(heap->begin(), heap->end(), Better);
  }
}

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

// Asks for an item's embedding row ahead of its dot product: a query's
// candidates are scattered over the matrix, and misses requested together
// overlap instead of stalling one after the other.
void PrefetchRow(const ItemMatrixView& items, ItemId id) {
  if (id.value() >= items.rows) return;
  const char* row = reinterpret_cast<const char*>(items.embeddings + static_cast<size_t>(id.value()) * items.dim);
  const size_t bytes = items.dim * sizeof(float);
  for (size_t line = 0; line < bytes; line += 64) __builtin_prefetch(row + line);
}

bool Excluded(const std::vector<ItemId>& sorted, ItemId id) {
  return !sorted.empty() && std::binary_search(sorted.begin(), sorted.end(), id);
}

using Boosts = std::vector<std::pair<ItemId, float>>;

bool ById(const std::pair<ItemId, float>& b, ItemId id) { return b.first < id; }

// The boost of `id` in `sorted` (by item), if it has one.
const float* BoostOf(const Boosts& sorted, ItemId id) {
  auto it = std::lower_bound(sorted.begin(), sorted.end(), id, ById);
  return it != sorted.end() && it->first == id ? &it->second : nullptr;
}

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

void TopNScorer::ScoreBlock(const ItemMatrixView& items, size_t first, size_t rows, size_t queries,
                            float* scores_out) const {
  if (precision_ == ScoringPrecision::kBFloat16 && packed_items_ != nullptr && first + rows <= packed_items_->rows) {
    Bf16ProductPacked(*packed_items_, first, rows, packed_, scores_out);
    return;
  }
  if (precision_ == ScoringPrecision::kBFloat16) {
    Bf16Product(items.embeddings + first * items.dim, rows, items.dim, packed_, scores_out);
    return;
  }
  const auto dim = static_cast<Eigen::Index>(items.dim);
  const Eigen::Map<const ColMajor> q(query_matrix_.data(), dim, static_cast<Eigen::Index>(queries));
  const Eigen::Map<const RowMajor> block(items.embeddings + first * items.dim, static_cast<Eigen::Index>(rows), dim);
  Eigen::Map<ColMajor> scores(scores_out, static_cast<Eigen::Index>(rows), static_cast<Eigen::Index>(queries));
  scores.noalias() = block * q;
}

void TopNScorer::DensePass(const ItemMatrixView& items, size_t begin, size_t end, size_t block_rows,
                           size_t queries, DenseShare* share) const {
  for (size_t first = begin; first < end; first += block_rows) {
    const auto rows = static_cast<Eigen::Index>(std::min(block_rows, end - first));
    ScoreBlock(items, first, static_cast<size_t>(rows), queries, share->block_scores.data());
    for (size_t k = 0; k < queries; ++k) {
      std::vector<ScoredItem>& heap = share->heaps[k];
      const std::vector<ItemId>& excl = exclusions_[k];
      const Boosts& boosted = boosted_[k];
      const float* col = share->block_scores.data() + static_cast<Eigen::Index>(k) * rows;
      const float* bias = items.biases + first;
      // Below the worst kept score nothing can enter: one vector compare per
      // sixteen items on the common path (ties, equal to the threshold, still go to Better).
      // An item whose per-item term is -inf (not allowed in lists) never enters.
      float threshold = heap.size() == keep_ ? heap.front().score : std::numeric_limits<float>::lowest();
      for (Eigen::Index group = 0; group < rows; group += kGroup) {
        uint32_t hits = CandidateMask(col + group, bias + group, std::min(kGroup, rows - group), threshold);
        for (; hits != 0; hits &= hits - 1) {
          const Eigen::Index r = group + std::countr_zero(hits);
          const float score = col[r] + bias[r];
          if (score < threshold) continue;  // the threshold rose meanwhile
          const size_t index = first + static_cast<size_t>(r);
          const ScoredItem cand{ItemId(static_cast<uint32_t>(index)), score};
          if (heap.size() == keep_ && !Better(cand, heap.front())) continue;
          if (Excluded(excl, cand.item) || BoostOf(boosted, cand.item) != nullptr) continue;
          Offer(&heap, keep_, cand);
          if (heap.size() == keep_) threshold = heap.front().score;
        }
      }
      // The boosted items of this block, with their boosts: their scores are
      // in the block already (no scattered rows fetched for them).
      const auto block_end = static_cast<uint32_t>(first + static_cast<size_t>(rows));
      for (auto b = std::lower_bound(boosted.begin(), boosted.end(), ItemId(static_cast<uint32_t>(first)), ById);
           b != boosted.end() && b->first.value() < block_end; ++b) {
        const Eigen::Index r = static_cast<Eigen::Index>(b->first.value() - first);
        const ScoredItem cand{b->first, col[r] + bias[r] + b->second};
        // An item whose per-item term is -inf (not allowed in lists) never enters.
        if (cand.score < std::numeric_limits<float>::lowest() || Excluded(excl, cand.item)) continue;
        if (heap.size() == keep_ && !Better(cand, heap.front())) continue;
        Offer(&heap, keep_, cand);
        if (heap.size() == keep_) threshold = heap.front().score;
      }
    }
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
    Offer(heap, n_, {c.item, q.dot(e) + items.biases[c.item.value()] + (boost != nullptr ? *boost : 0.0F)});
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
  packed_items_ = packed != nullptr && packed->rows <= items.rows && packed->dim == items.dim ? packed : nullptr;
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
    std::sort(boosted_[k].begin(), boosted_[k].end(), [](const auto& a, const auto& b) { return a.first < b.first; });
    // Ids past the matrix (not scored yet) cannot be listed.
    while (!boosted_[k].empty() && boosted_[k].back().first.value() >= items.rows) boosted_[k].pop_back();
    (*out)[k].clear();
  }
  if (items.rows == 0 || queries.empty()) return;
  if (precision_ == ScoringPrecision::kBFloat16) PackBf16Queries(query_matrix_, items.dim, queries.size(), &packed_);
  const size_t block_rows = BlockRowsFor(queries.size(), block_rows_);
  const size_t threads = std::clamp<size_t>(items.rows / kMinRowsPerThread, 1, shares_.size());
  // Everything a share needs is sized here: the pass itself allocates nothing.
  for (size_t t = 0; t < threads; ++t) {
    shares_[t].block_scores.resize(block_rows * queries.size());
    shares_[t].heaps.resize(queries.size());
    for (std::vector<ScoredItem>& heap : shares_[t].heaps) {
      heap.clear();
      heap.reserve(keep_);
    }
  }
  // Equal ranges, cut between blocks: each block is the one a single thread
  // scores, so the float32 product rounds alike (bit-identical lists).
  const size_t blocks = (items.rows + block_rows - 1) / block_rows;
  auto range_begin = [&](size_t t) { return std::min(items.rows, blocks * t / threads * block_rows); };
  auto pass = [&](size_t t) {
    DensePass(items, range_begin(t), range_begin(t + 1), block_rows, queries.size(), &shares_[t]);
  };
  if (threads == 1) {
    pass(0);
  } else {
    threads_->Run([&](size_t t) {
      if (t < threads) pass(t);
    });
  }
  for (size_t k = 0; k < queries.size(); ++k) {
    (*out)[k].swap(shares_[0].heaps[k]);
    for (size_t t = 1; t < threads; ++t) {
      for (const ScoredItem& cand : shares_[t].heaps[k]) Offer(&(*out)[k], keep_, cand);
    }
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

std::vector<ScoredItem> BruteForceTopN(const ItemMatrixView& items, const TopNQuery& query, size_t n) {
  std::vector<ScoredItem> all;
  for (size_t i = 0; i < items.rows; ++i) {
    const ItemId id(static_cast<uint32_t>(i));
    if (std::find(query.exclude.begin(), query.exclude.end(), id) != query.exclude.end()) continue;
    double s = items.biases[i];
    for (const auto& [bid, boost] : query.boosts) {
      if (bid == id) s += boost;
    }
    for (size_t d = 0; d < items.dim; ++d) s += double{query.vector[d]} * items.embeddings[i * items.dim + d];
    all.push_back({id, static_cast<float>(s)});
  }
  std::sort(all.begin(), all.end(), Better);
  if (all.size() > n) all.resize(n);
  return all;
}

}  // namespace streamrec::emitter
