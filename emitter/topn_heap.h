// TopNScorer's internals shared by its two files (topn.cpp: the passes;
// topn_bounds.cpp: skipping by bound): the per-query heap and the look-ups
// of exclusions and boosts. Not part of the module's interface.
#pragma once

#include <algorithm>
#include <limits>
#include <utility>
#include <vector>

#include "common/state.h"
#include "emitter/topn.h"

namespace streamrec::emitter::topn_detail {

using Boosts = std::vector<std::pair<ItemId, float>>;

inline bool ById(const std::pair<ItemId, float>& b, ItemId id) { return b.first < id; }

// a ranks before b: higher score, then smaller id.
inline bool Better(const ScoredItem& a, const ScoredItem& b) {
  return a.score > b.score || (a.score == b.score && a.item < b.item);
}

// Min-heap on "Better": the root is the worst kept candidate.
inline void Offer(std::vector<ScoredItem>* heap, size_t n, ScoredItem cand) {
  if (heap->size() < n) {
    heap->push_back(cand);
    std::push_heap(heap->begin(), heap->end(), Better);
  } else if (Better(cand, heap->front())) {
    std::pop_heap(heap->begin(), heap->end(), Better);
    heap->back() = cand;
    std::push_heap(heap->begin(), heap->end(), Better);
  }
}

// The score a candidate must reach to enter a heap of `keep`: its worst
// kept one's when full, else any.
inline float WorstKept(const std::vector<ScoredItem>& heap, size_t keep) {
  return heap.size() == keep ? heap.front().score : std::numeric_limits<float>::lowest();
}

// Asks for an item's embedding row ahead of its dot product: a query's
// candidates are scattered over the matrix, and misses requested together
// overlap instead of stalling one after the other.
inline void PrefetchRow(const ItemMatrixView& items, ItemId id) {
  if (id.value() >= items.rows) return;
  const char* row = reinterpret_cast<const char*>(items.embeddings + static_cast<size_t>(id.value()) * items.dim);
  const size_t bytes = items.dim * sizeof(float);
  for (size_t line = 0; line < bytes; line += 64) __builtin_prefetch(row + line);
}

inline bool Excluded(const std::vector<ItemId>& sorted, ItemId id) {
  return !sorted.empty() && std::binary_search(sorted.begin(), sorted.end(), id);
}

// The boost of `id` in `sorted` (by item), if it has one.
inline const float* BoostOf(const Boosts& sorted, ItemId id) {
  auto it = std::lower_bound(sorted.begin(), sorted.end(), id, ById);
  return it != sorted.end() && it->first == id ? &it->second : nullptr;
}
}  // namespace streamrec::emitter::topn_detail
