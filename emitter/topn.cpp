#include "emitter/topn.h"

#include <algorithm>
#include <limits>

#include <Eigen/Core>

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

bool Excluded(const std::vector<ItemId>& sorted, ItemId id) {
  return !sorted.empty() && std::binary_search(sorted.begin(), sorted.end(), id);
}

}  // namespace

TopNScorer::TopNScorer(size_t n, size_t block_rows) : n_(std::max<size_t>(1, n)), block_rows_(std::max<size_t>(64, block_rows)) {}

float ScoreWithoutSelection(const ItemMatrixView& items, std::span<const float> queries, size_t count,
                            size_t block_rows, std::vector<float>* scratch) {
  const auto dim = static_cast<Eigen::Index>(items.dim);
  const auto batch = static_cast<Eigen::Index>(count);
  const Eigen::Map<const ColMajor> q(queries.data(), dim, batch);
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
                       std::vector<std::vector<ScoredItem>>* out) {
  const auto dim = static_cast<Eigen::Index>(items.dim);
  const auto batch = static_cast<Eigen::Index>(queries.size());
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
    boosted_[k].clear();
    for (const auto& b : queries[k].boosts) boosted_[k].push_back(b.first);
    std::sort(boosted_[k].begin(), boosted_[k].end());
    (*out)[k].clear();
  }
  if (items.rows == 0 || queries.empty()) return;
  const Eigen::Map<const ColMajor> q(query_matrix_.data(), dim, batch);
  block_scores_.resize(block_rows_ * queries.size());

  for (size_t first = 0; first < items.rows; first += block_rows_) {
    const auto rows = static_cast<Eigen::Index>(std::min(block_rows_, items.rows - first));
    const Eigen::Map<const RowMajor> block(items.embeddings + first * items.dim, rows, dim);
    Eigen::Map<ColMajor> scores(block_scores_.data(), rows, batch);
    scores.noalias() = block * q;
    for (Eigen::Index k = 0; k < batch; ++k) {
      std::vector<ScoredItem>& heap = (*out)[static_cast<size_t>(k)];
      const std::vector<ItemId>& excl = exclusions_[static_cast<size_t>(k)];
      const std::vector<ItemId>& boosted = boosted_[static_cast<size_t>(k)];
      const float* col = scores.data() + k * rows;
      const float* bias = items.biases + first;
      // Below the worst kept score nothing can enter: one compare per item on
      // the common path (ties, equal to the threshold, still go to Better).
      // An item whose per-item term is -inf (not allowed in lists) never enters.
      float threshold = heap.size() == n_ ? heap.front().score : std::numeric_limits<float>::lowest();
      for (Eigen::Index r = 0; r < rows; ++r) {
        const float score = col[r] + bias[r];
        if (score < threshold) continue;
        const size_t index = first + static_cast<size_t>(r);
        const ScoredItem cand{ItemId(static_cast<uint32_t>(index)), score};
        if (heap.size() == n_ && !Better(cand, heap.front())) continue;
        if (Excluded(excl, cand.item) || Excluded(boosted, cand.item)) continue;
        Offer(&heap, n_, cand);
        if (heap.size() == n_) threshold = heap.front().score;
      }
    }
  }
  for (size_t k = 0; k < queries.size(); ++k) {
    const Eigen::Map<const Eigen::VectorXf> qk(query_matrix_.data() + k * items.dim, dim);
    for (const auto& [id, boost] : queries[k].boosts) {
      if (id.value() >= items.rows || Excluded(exclusions_[k], id)) continue;
      const Eigen::Map<const Eigen::VectorXf> e(items.embeddings + id.value() * items.dim, dim);
      const float score = qk.dot(e) + items.biases[id.value()] + boost;
      if (score >= std::numeric_limits<float>::lowest()) Offer(&(*out)[k], n_, {id, score});
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
