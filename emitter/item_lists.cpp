#include "emitter/item_lists.h"

#include <algorithm>
#include <cmath>
#include <limits>

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
  Extend(model, allowed);
}

void SimilarItemsScorer::Extend(const ModelView& model, const ItemFilter& allowed) {
  const ItemMatrixView items = model.Items();
  dim_ = items.dim;
  normalized_.resize(items.rows * dim_);
  terms_.resize(items.rows);
  for (size_t i = rows_; i < items.rows; ++i) {
    const float* e = items.embeddings + i * dim_;
    double norm = 0;
    for (size_t d = 0; d < dim_; ++d) norm += double{e[d]} * e[d];
    const float inv = norm > 0 ? static_cast<float>(1.0 / std::sqrt(norm)) : 0.0F;
    for (size_t d = 0; d < dim_; ++d) normalized_[i * dim_ + d] = e[d] * inv;
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
  scorer_.Score(view, queries_, out);
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
