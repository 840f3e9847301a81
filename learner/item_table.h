// ItemTable: every known item's embedding, bias and count, in memory, indexed
// by dense ItemId; plus a popularity sampler (Fenwick tree over counts).
//
// Memory: (dim + 1) floats + ~100 bytes per item, plus 8 bytes per
// co-occurrence neighbour (rows up to 2 x max_neighbors); bounded by the
// learner's max_items, which replaces cold items once the table is full.
// Thread-safety: none; owned by the Learner.
#pragma once

#include <algorithm>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/flat_index.h"
#include "common/hash.h"
#include "common/ids.h"
#include "common/state.h"

namespace streamrec::learner {

class ItemTable {
 public:
  // `dense_min_events`: events an unpinned item needs before the view's dense
  // term (View().biases) is its bias; -inf until then (LearnerOptions::dense_min_events).
  explicit ItemTable(size_t dim, uint64_t dense_min_events = 1) : dim_(dim), dense_min_events_(dense_min_events) {}

  size_t size() const { return external_ids_.size(); }
  size_t dim() const { return dim_; }

  std::optional<ItemId> Find(std::string_view external_id) const;
  // Adds an item with the given initial embedding; returns its id.
  ItemId Add(std::string_view external_id, std::span<const float> embedding, float bias, uint64_t count);
  // Places a stored item at its persisted id (restart). Ids must be dense in the end.
  void Restore(const ItemRecord& record);
  // Gives slot `id` to a new item: the old one is forgotten (its external id,
  // counts, rows), and removed from the rows of its neighbours, whose ids are
  // appended to *touched (their rows changed). O(its neighbours x their rows).
  void Replace(ItemId id, std::string_view external_id, std::span<const float> embedding, float bias,
               std::vector<ItemId>* touched);
  // A pinned item is never replaced (catalog items). Default unpinned.
  void SetPinned(ItemId id, bool pinned);
  bool pinned(ItemId id) const { return id.value() < pinned_.size() && pinned_[id.value()] != 0; }

  float* embedding(ItemId id) { return &embeddings_[id.value() * dim_]; }
  // Written through by the SGD step: call BiasWritten(id) after.
  float* bias(ItemId id) { return &biases_[id.value()]; }
  float bias(ItemId id) const { return biases_[id.value()]; }
  const float* embedding(ItemId id) const { return &embeddings_[id.value() * dim_]; }
  void BiasWritten(ItemId id) { SyncDenseBias(id.value()); }
  uint64_t count(ItemId id) const { return counts_[id.value()]; }
  const std::string& external_id(ItemId id) const { return external_ids_[id.value()]; }

  void IncrementCount(ItemId id) { AddCount(id, 1); }
  void AddCount(ItemId id, uint64_t events);
  // Adds an event at `ts_ms` to the item's decayed popularity (log2 domain),
  // with each of the two half-lives: recency() and short_recency().
  void AddRecency(ItemId id, int64_t ts_ms, int64_t half_life_ms, int64_t short_half_life_ms);
  // Adds masses already summed (log2 of sums of 2^(ts / half-life), as
  // ItemUpdates carry them) to recency() and short_recency().
  void AddRecencyMass(ItemId id, float log2_mass, float log2_short_mass);
  // log2(2^a + 2^x), exact in order and never overflowing: how masses add.
  static float Log2Add(float a, double x);
  // Per-item scores for the popularity kinds, aligned with the embeddings.
  const float* popularity() const { return popularity_.data(); }      // count
  const float* log_popularity() const { return log_popularity_.data(); }  // log(1 + count)
  const float* recency() const { return recency_.data(); }
  const float* short_recency() const { return short_recency_.data(); }
  // The term lists rank items by (View()) becomes bias + weight x the item's
  // recency relative to `now` (log2 of its decayed count; ts / half-life
  // units), floored at -kRecencyFloor; every item's term is recomputed.
  // The same with the short half-life added (short_weight, short_now).
  static constexpr double kRecencyFloor = 30.0;
  void SetRecencyTerm(float weight, double now, float short_weight, double short_now);
  float recency_weight() const { return recency_weight_; }
  float short_recency_weight() const { return short_recency_weight_; }
  // The highest recency of any item (about the last event's ts / half-life); 0 without items.
  double LatestRecency() const;
  double LatestShortRecency() const;
  // 1 / sqrt(count), 0 for an item without events: co-occurrence normalisation
  // without a square root per neighbour.
  float inv_sqrt_count(ItemId id) const { return inv_sqrt_counts_[id.value()]; }

  using Neighbor = std::pair<ItemId, float>;
  // cooc(a, b) += weight; a row over 2 * max_neighbors keeps its max_neighbors strongest.
  void AddCooccurrence(ItemId a, ItemId b, float weight, size_t max_neighbors);
  // Sorted by id.
  std::span<const Neighbor> neighbors(ItemId id) const { return neighbors_[id.value()]; }
  // For rows searched one after another (an event's co-occurrence window: the
  // last `window` items of `history`, and `item`'s): their headers, then the
  // lines of the first three steps of a binary search of each, so that the
  // searches wait for about one miss each rather than a chain of them
  // (BM_ObserveMature). Only prefetches: no effect on any result.
  void PrefetchWindowRows(std::span<const ItemId> history, size_t window, ItemId item) const;
  void PrefetchRowHeader(ItemId id) const { __builtin_prefetch(&neighbors_[id.value()]); }
  // The terms of a user's co-occurrence boost of item c (Learner::Boosts):
  // fn(a, decay^k * cooc(a, c) / sqrt(count(a))) for each of the `window` most
  // recent items a of `history` (k = 0 for the most recent, visited first)
  // whose row holds c. One binary search per row.
  template <typename Fn>
  void ForEachCoocTerm(std::span<const ItemId> history, size_t window, float decay, ItemId c, Fn fn) const {
    window = std::min(window, history.size());
    float recency = 1.0F;
    for (size_t k = history.size(); k-- > history.size() - window; recency *= decay) {
      const std::span<const Neighbor> row = neighbors(history[k]);
      const auto at = std::lower_bound(row.begin(), row.end(), c, [](const Neighbor& n, ItemId id) { return n.first < id; });
      if (at != row.end() && at->first == c) fn(history[k], recency * inv_sqrt_count(history[k]) * at->second);
    }
  }
  // The same, counted only between items of the same recent carts and purchases.
  void AddBasketCooccurrence(ItemId a, ItemId b, float weight, size_t max_neighbors);
  std::span<const Neighbor> basket_neighbors(ItemId id) const { return basket_neighbors_[id.value()]; }
  // An item drawn with probability count / total count; nullopt if all counts are 0.
  std::optional<ItemId> SamplePopular(uint64_t random) const;

  // listed_biases: per item its bias plus the recency term (SetRecencyTerm);
  // biases: the same for the dense pass (-inf for items below dense_min_events).
  // With per-block bounds (ItemMatrixView::block_norms): every write of a row
  // raises its block's, SetRecencyTerm recomputes them all.
  ItemMatrixView View() const {
    ItemMatrixView view{embeddings_.data(), dense_biases_.data(), size(), dim_, served_.data()};
    view.block_norms = block_norms_.data();
    view.block_biases = block_biases_.data();
    view.bounded_biases = dense_biases_.data();
    return view;
  }
  // Overwrites *out with the item, reusing its storage; with the
  // co-occurrence rows, or without (with_neighbors false).
  void CopyTo(ItemId id, bool with_neighbors, ItemRecord* out) const;

 private:
  // *out = *row (empty when row is null), keeping at most twice what it needs.
  static void CopyRow(const std::vector<Neighbor>* row, std::vector<Neighbor>* out);
  void FenwickAdd(size_t index, uint64_t delta);
  void RebuildFenwick();
  void SetCount(size_t index, uint64_t count);
  void SyncDenseBias(size_t index);
  // Raises the bounds of row index's block to its norm and dense term.
  void RaiseBlockBounds(size_t index);
  uint64_t Prefix(size_t n) const;  // sum of the first n counts

  size_t dim_;
  std::vector<float> embeddings_;
  std::vector<float> biases_;
  uint64_t dense_min_events_;
  std::vector<float> served_;  // biases_ + the recency term (SyncDenseBias)
  std::vector<float> dense_biases_;  // served_, or -inf for items too little seen
  // Per ItemMatrixView::kBoundRows rows: at least each row's norm, and at
  // least each row's dense_biases_ (upper bounds; exact after SetRecencyTerm).
  std::vector<float> block_norms_;
  std::vector<float> block_biases_;
  float recency_weight_ = 0.0F;
  double recency_now_ = 0.0;
  float short_recency_weight_ = 0.0F;
  double short_recency_now_ = 0.0;
  std::vector<uint64_t> counts_;
  std::vector<float> inv_sqrt_counts_;
  std::vector<std::string> external_ids_;
  std::vector<std::vector<Neighbor>> neighbors_;
  std::vector<std::vector<Neighbor>> basket_neighbors_;
  std::vector<double> trimmed_cooc_;  // per item: the weight trimming dropped from its rows (ItemRecord::trimmed_cooc)
  std::vector<float> popularity_;
  std::vector<float> log_popularity_;
  std::vector<float> recency_;
  std::vector<float> short_recency_;
  std::vector<uint8_t> pinned_;  // grows on SetPinned only
  FlatIndex by_external_id_;  // external id -> id (the slot is the id)
  std::vector<uint64_t> fenwick_;  // 1-based partial sums of counts_
  uint64_t total_count_ = 0;
};

}  // namespace streamrec::learner
