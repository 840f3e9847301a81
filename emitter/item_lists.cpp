#include "emitter/item_lists.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include <Eigen/Core>

namespace streamrec::emitter {
namespace {

bool Better(const ScoredItem& a, const ScoredItem& b) {
  return a.score > b.score || (a.score == b.score && a.item < b.item);
}

// Keeps the best `depth` of `row` (sorted best first).
void KeepBest(std::vector<ScoredItem>* row, size_t depth) {
  if (row->size() > depth) {
    std::partial_sort(row->begin(), row->begin() + static_cast<std::ptrdiff_t>(depth), row->end(), Better);
    row->resize(depth);
  } else {
    std::sort(row->begin(), row->end(), Better);
  }
}

}  // namespace

void SimilarItemsScorer::Prepare(const ModelView& model, const ItemFilter& allowed) {
  rows_ = 0;
  packed_stale_ = true;
  Extend(model, allowed);
}

void SimilarItemsScorer::Extend(const ModelView& model, const ItemFilter& allowed) {
  const ItemMatrixView items = model.Items();
  dim_ = items.dim;
  normalized_.resize(items.rows * dim_);
  terms_.resize(items.rows);
  // Vectorised float norms (Eigen): Prepare runs on the pipeline's thread
  // over the whole catalogue once a second; a scalar double loop took ~5 ms
  // at 100k items.
  using Rows = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  const auto fresh = static_cast<Eigen::Index>(items.rows - rows_);
  const auto dim = static_cast<Eigen::Index>(dim_);
  const Eigen::Map<const Rows> from(items.embeddings + rows_ * dim_, fresh, dim);
  Eigen::Map<Rows> to(normalized_.data() + rows_ * dim_, fresh, dim);
  for (Eigen::Index r = 0; r < fresh; ++r) {
    const float norm = from.row(r).norm();
    if (norm > 0) {
      to.row(r) = from.row(r) / norm;
    } else {
      to.row(r).setZero();
    }
  }
  for (size_t i = rows_; i < items.rows; ++i) {
    const bool listable = !allowed || allowed(ItemId(static_cast<uint32_t>(i)));
    terms_[i] = listable ? 0.0F : -std::numeric_limits<float>::infinity();
  }
  rows_ = items.rows;
}

void SimilarItemsScorer::Score(const ModelView& model, std::span<const ItemId> targets,
                               std::span<const std::vector<ItemId>> exclude,
                               std::vector<std::vector<ScoredItem>>* out) {
  Extend(model, nullptr);  // items added since Prepare are candidates too
  const ItemMatrixView view{normalized_.data(), terms_.data(), rows_, dim_};
  if (boosts_.size() < targets.size()) boosts_.resize(targets.size());
  if (excluded_.size() < targets.size()) excluded_.resize(targets.size());
  queries_.clear();
  zero_.assign(dim_, 0.0F);
  for (size_t k = 0; k < targets.size(); ++k) {
    const ItemId a = targets[k];
    model.ItemNeighbors(a, false, &boosts_[k]);
    for (auto& b : boosts_[k]) b.second *= cooc_blend_;
    excluded_[k] = k < exclude.size() ? exclude[k] : std::vector<ItemId>{};
    excluded_[k].push_back(a);
    std::span<const float> q = a.value() < rows_ ? std::span<const float>(normalized_.data() + a.value() * dim_, dim_)
                                                 : std::span<const float>(zero_);
    queries_.push_back({q, excluded_[k], boosts_[k]});
  }
  const bool bf16 = scorer_.precision() == ScoringPrecision::kBFloat16;
  if (bf16 && packed_stale_) {
    PackBf16Items(normalized_.data(), rows_, dim_, &packed_);
    packed_stale_ = false;
  }
  scorer_.Score(view, queries_, out, bf16 ? &packed_ : nullptr);
}

void BoughtTogether(const ModelView& model, ItemId item, size_t n, const ItemFilter& allowed,
                    std::vector<ScoredItem>* out) {
  std::vector<std::pair<ItemId, float>> row;
  model.ItemNeighbors(item, true, &row);
  out->clear();
  for (const auto& [other, weight] : row) {
    if (other != item && (!allowed || allowed(other))) out->push_back({other, weight});
  }
  KeepBest(out, n);
}

void TrendingLists::Build(const ModelView& model, const catalog::Catalog* catalog, const ItemFilter& allowed) {
  const std::span<const float> recency = model.ItemRecency();
  global_.clear();
  by_category_.assign(catalog ? catalog->category_count() : 0, {});
  float top = -std::numeric_limits<float>::infinity();
  for (size_t i = 0; i < recency.size(); ++i) {
    const ItemId id(static_cast<uint32_t>(i));
    if (recency[i] < -1e29F || (allowed && !allowed(id))) continue;  // no events yet, or not listable
    top = std::max(top, recency[i]);
    global_.push_back({id, recency[i]});
    if (catalog) {
      if (auto c = catalog->CategoryOf(id)) by_category_[c->value()].push_back({id, recency[i]});
    }
    // Bound the working set: prune to the best depth whenever it doubles.
    if (global_.size() >= 4 * depth_ + 1024) KeepBest(&global_, depth_);
  }
  KeepBest(&global_, depth_);
  for (auto& row : by_category_) KeepBest(&row, depth_);
  auto relative = [top](std::vector<ScoredItem>& row) {
    for (ScoredItem& s : row) s.score = std::exp2(s.score - top);
  };
  relative(global_);
  for (auto& row : by_category_) relative(row);
  built_ = true;
}

std::span<const ScoredItem> TrendingLists::category(catalog::CategoryId id) const {
  if (id.value() >= by_category_.size()) return {};
  return by_category_[id.value()];
}

void MergeTrending(std::span<const std::span<const ScoredItem>> lists, std::span<const ItemId> exclude, size_t n,
                   std::vector<ScoredItem>* out) {
  out->clear();
  for (std::span<const ScoredItem> list : lists) {
    for (const ScoredItem& s : list) {
      if (out->size() >= n) return;
      if (std::find(exclude.begin(), exclude.end(), s.item) != exclude.end()) continue;
      if (std::any_of(out->begin(), out->end(), [&](const ScoredItem& o) { return o.item == s.item; })) continue;
      out->push_back(s);
    }
  }
}

}  // namespace streamrec::emitter
