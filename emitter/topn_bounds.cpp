// TopNScorer: skipping blocks by bound, over the emitter's items packed by
// bound (packed_items.h) and over the learner's items by id with their block
// bounds (ItemMatrixView::block_norms). See topn.h.
#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>

#include <Eigen/Core>

#include "emitter/topn.h"
#include "emitter/topn_heap.h"

namespace streamrec::emitter {

using topn_detail::Boosts;
using topn_detail::ById;
using topn_detail::Excluded;
using topn_detail::Offer;
using topn_detail::WorstKept;

bool TopNScorer::SelectActive(size_t first, size_t block_rows, size_t queries, DenseShare* share) const {
  const BlockBound& here = block_bounds_[first / block_rows];
  const BlockBound& rest = suffix_bounds_[first / block_rows];
  share->active.clear();
  // Blocks of items the dense pass never lists (-inf terms: unavailable, or
  // seen too little) serve no query, even one whose list is not full yet.
  constexpr float kNever = -std::numeric_limits<float>::infinity();
  if (rest.bias == kNever) return false;
  if (here.bias == kNever) return true;
  bool later = false;  // whether this block or a later one could still serve a query
  for (size_t k = 0; k < queries; ++k) {
    const std::vector<ScoredItem>& heap = share->heaps[k];
    if (heap.size() < keep_) {
      share->active.push_back(static_cast<uint32_t>(k));
      later = true;
      continue;
    }
    const float threshold = heap.front().score;
    // Not "bound < threshold" negated: a NaN bound keeps the query.
    if (!(query_norms_[k] * here.norm + here.bias < threshold)) share->active.push_back(static_cast<uint32_t>(k));
    if (!(query_norms_[k] * rest.norm + rest.bias < threshold)) later = true;
  }
  if (share->active.empty() || share->active.size() == queries) return later || !share->active.empty();
  if (packed_items_->layout() == PackedItems::Layout::kFloat32) {
    const size_t dim = packed_items_->dim;
    share->active_columns.resize(share->active.size() * dim);
    for (size_t j = 0; j < share->active.size(); ++j) {
      std::copy_n(query_matrix_.begin() + static_cast<ptrdiff_t>(share->active[j] * dim), dim,
                  share->active_columns.begin() + static_cast<ptrdiff_t>(j * dim));
    }
    return true;
  }
  const size_t pairs = packed_.pairs.size() / packed_.users;
  share->active_packed.users = share->active.size();
  share->active_packed.pairs.resize(share->active.size() * pairs);
  for (size_t j = 0; j < share->active.size(); ++j) {
    std::copy_n(packed_.pairs.begin() + static_cast<ptrdiff_t>(share->active[j] * pairs), pairs,
                share->active_packed.pairs.begin() + static_cast<ptrdiff_t>(j * pairs));
  }
  return true;
}

void TopNScorer::PrepareByBound(const ItemMatrixView& items, size_t block_rows) {
  const std::span<const uint32_t> order = packed_items_->order();
  const std::span<const float> group_norms = packed_items_->group_norms();
  packed_bias_.resize(order.size());
  const size_t blocks = (order.size() + block_rows - 1) / block_rows;
  bound_blocks_ = blocks;
  bias_gathered_.assign(blocks, 0);
  const std::span<const uint32_t> position = packed_items_->position();
  PlaceBoosts();
  // In item order: the terms are read in sequence, the few block maxima stay in cache.
  block_bounds_.assign(blocks, {0.0F, -std::numeric_limits<float>::infinity()});
  for (size_t i = 0; i < order.size(); ++i) {
    BlockBound& b = block_bounds_[position[i] / block_rows];
    if (!std::isnan(items.biases[i])) b.bias = std::max(b.bias, items.biases[i]);
  }
  for (size_t g = 0; g < group_norms.size(); ++g) {
    BlockBound& b = block_bounds_[g * 16 / block_rows];
    b.norm = std::max(b.norm, group_norms[g]);
  }
  suffix_bounds_ = block_bounds_;
  for (size_t b = blocks; b-- > 1;) {
    suffix_bounds_[b - 1].norm = std::max(suffix_bounds_[b - 1].norm, suffix_bounds_[b].norm);
    suffix_bounds_[b - 1].bias = std::max(suffix_bounds_[b - 1].bias, suffix_bounds_[b].bias);
  }
  const size_t queries = exclusions_.size();  // one per query of this Score
  query_norms_.resize(queries);
  for (size_t k = 0; k < queries; ++k) {
    const Eigen::Map<const Eigen::VectorXf> q(query_matrix_.data() + k * items.dim, static_cast<Eigen::Index>(items.dim));
    query_norms_[k] = q.norm() * (1.0F + 1.0F / 256);  // bfloat16 rounding, as the items' norms
  }
}

void TopNScorer::PlaceBoosts() {
  const std::span<const uint32_t> position = packed_items_->position();
  placed_boosts_.resize(boosted_.size());  // one per query of this Score
  for (size_t k = 0; k < boosted_.size(); ++k) {
    placed_boosts_[k].clear();
    for (const auto& [id, boost] : boosted_[k]) {
      if (id.value() < position.size()) placed_boosts_[k].push_back({position[id.value()], id, boost});
    }
    std::sort(placed_boosts_[k].begin(), placed_boosts_[k].end(),
              [](const PlacedBoost& a, const PlacedBoost& b) { return a.row < b.row; });
  }
}

void TopNScorer::TakeSkippedBoosts(const ItemMatrixView& items, size_t k, size_t block_rows, size_t threads,
                                   std::vector<ScoredItem>* heap) const {
  const auto dim = static_cast<Eigen::Index>(items.dim);
  const Eigen::Map<const Eigen::VectorXf> q(query_matrix_.data() + k * items.dim, dim);
  const std::span<const float> group_norms = packed_items_->group_norms();
  for (const PlacedBoost& p : placed_boosts_[k]) {
    const size_t block = p.row / block_rows;
    if (shares_[block % threads].scored_blocks[k * bound_blocks_ + block] != 0) continue;  // taken with its block
    if (Excluded(exclusions_[k], p.item)) continue;
    const float bias = items.ListedBias(p.item.value());
    // Most boosts are too small to lift their item into the list: no row fetched.
    const float bound = query_norms_[k] * group_norms[p.row / 16] + bias + p.boost;
    if (heap->size() == keep_ && bound < heap->front().score) continue;
    const Eigen::Map<const Eigen::VectorXf> e(items.embeddings + p.item.value() * items.dim, dim);
    const ScoredItem cand{p.item, q.dot(e) + bias + p.boost};
    // An item whose per-item term is -inf (not allowed in lists) never enters.
    if (cand.score < std::numeric_limits<float>::lowest()) continue;
    Offer(heap, keep_, cand);
  }
}

void TopNScorer::SetBoostFloors(const ItemMatrixView& items, size_t queries) {
  query_norms_.resize(queries);
  boost_floor_.assign(queries, std::numeric_limits<float>::lowest());
  for (size_t k = 0; k < queries; ++k) {
    const Eigen::Map<const Eigen::VectorXf> q(query_matrix_.data() + k * items.dim, static_cast<Eigen::Index>(items.dim));
    // Rounding of the norms and of the products: float32 sums of dim terms
    // err by far less than 0.1 %.
    query_norms_[k] = q.norm() * 1.001F;
    // Each boosted item scores at least its term + boost - |query| x its
    // block's norm bound, read without its row. The keep_-th best of these is
    // a floor: keep_ items will score above it, so nothing below enters.
    std::vector<float>& lower = boost_lower_bounds_;
    lower.clear();
    // Both sorted by item: the excluded ones (often the user's own items,
    // high in their neighbours' rows) skipped in one forward walk.
    auto excluded = exclusions_[k].begin();
    for (const auto& [id, boost] : boosted_[k]) {
      while (excluded != exclusions_[k].end() && *excluded < id) ++excluded;
      if (excluded != exclusions_[k].end() && *excluded == id) continue;
      const float term = listed_biases_[id.value()] + boost;
      const float product = query_norms_[k] * items.block_norms[id.value() / ItemMatrixView::kBoundRows];
      // The slack covers the rounding of the score's additions.
      const float at_least = term - product - 1e-5F * (std::abs(term) + product);
      // An item whose per-item term is -inf (not allowed in lists) never enters.
      if (at_least >= std::numeric_limits<float>::lowest()) lower.push_back(at_least);
    }
    if (lower.size() < keep_) continue;
    std::nth_element(lower.begin(), lower.begin() + static_cast<std::ptrdiff_t>(keep_ - 1), lower.end(), std::greater<>());
    boost_floor_[k] = lower[keep_ - 1];
  }
}

void TopNScorer::TakeSkippedBlockBoosts(const ItemMatrixView& items, size_t first, size_t rows, size_t queries,
                                        DenseShare* share) const {
  const auto dim = static_cast<Eigen::Index>(items.dim);
  const float norm = BoundOf(items, first, rows).norm;
  for (size_t k = 0; k < queries; ++k) {
    const Eigen::Map<const Eigen::VectorXf> q(query_matrix_.data() + k * items.dim, dim);
    const Boosts& boosted = boosted_[k];
    std::vector<ScoredItem>* heap = &share->heaps[k];
    for (auto b = std::lower_bound(boosted.begin(), boosted.end(), ItemId(static_cast<uint32_t>(first)), ById);
         b != boosted.end() && b->first.value() < first + rows; ++b) {
      const float term = listed_biases_[b->first.value()] + b->second;
      // Most boosts cannot lift their item into the list: no row fetched.
      if (query_norms_[k] * norm + term < Threshold(*heap, k)) continue;
      if (Excluded(exclusions_[k], b->first)) continue;
      const Eigen::Map<const Eigen::VectorXf> e(items.embeddings + b->first.value() * items.dim, dim);
      const ScoredItem cand{b->first, q.dot(e) + term};
      // An item whose per-item term is -inf (not allowed in lists) never enters.
      if (cand.score < std::numeric_limits<float>::lowest()) continue;
      Offer(heap, keep_, cand);
    }
  }
}

TopNScorer::BlockBound TopNScorer::BoundOf(const ItemMatrixView& items, size_t first, size_t rows) {
  BlockBound bound{0.0F, -std::numeric_limits<float>::infinity()};
  for (size_t b = first / ItemMatrixView::kBoundRows; b <= (first + rows - 1) / ItemMatrixView::kBoundRows; ++b) {
    bound.norm = std::max(bound.norm, items.block_norms[b]);
    bound.bias = std::max(bound.bias, items.block_biases[b]);
  }
  return bound;
}

bool TopNScorer::BlockReaches(const ItemMatrixView& items, size_t first, size_t rows, size_t queries,
                              const DenseShare& share) const {
  const BlockBound bound = BoundOf(items, first, rows);
  if (bound.bias == -std::numeric_limits<float>::infinity()) return false;  // items the dense pass never lists
  for (size_t k = 0; k < queries; ++k) {
    // A score is fl(product + term), and rounding is monotone: at most
    // fl(bound on the product + bound on the term). Not "< threshold"
    // negated: a NaN bound keeps the block.
    if (!(query_norms_[k] * bound.norm + bound.bias < Threshold(share.heaps[k], k))) return true;
  }
  return false;
}

float TopNScorer::Threshold(const std::vector<ScoredItem>& heap, size_t k) const {
  const float kept = WorstKept(heap, keep_);
  return by_block_bounds_ ? std::max(kept, boost_floor_[k]) : kept;
}

}  // namespace streamrec::emitter
