// AnnIndex: approximate top-N candidates for large catalogues, with hnswlib's
// HNSW graph over inner products. Items are stored as [embedding, per-item
// term] and queried with [query, 1], so the approximate order is the exact
// scorer's order (dot product plus bias); candidates are then re-ranked
// exactly (RerankTopN) with the user's boosts and exclusions.
//
// Kept in step with the model by Sync(): new items are added, changed ones
// re-inserted (hnswlib moves a point and repairs its links).
// Memory: (dim + 1) * 4 + ~2 * m * 4 bytes per item (m = 16: ~390 B at dim 64).
// Thread-safety: Search() may run on several threads at once; Sync() alone.
#pragma once

#include <cstddef>
#include <memory>
#include <span>
#include <vector>

#include "common/state.h"
#include "common/status.h"
#include "emitter/topn.h"

namespace streamrec::emitter {

struct AnnOptions {
  // Graph degree. Default 16: recall grows and memory with it.
  size_t m = 16;
  // Candidate list while inserting. Default 100: a better graph, slower build.
  size_t ef_construction = 100;
  // Candidate list while searching, >= the candidates asked for. Default 200.
  size_t ef_search = 64;
  // Items the capacity grows by when full.
  size_t grow_by = 1 << 16;
};

class AnnIndex {
 public:
  AnnIndex(size_t dim, AnnOptions options);
  ~AnnIndex();
  AnnIndex(const AnnIndex&) = delete;
  AnnIndex& operator=(const AnnIndex&) = delete;

  // Adds the items the index does not hold yet ([size(), items.rows)) and
  // re-inserts `changed` ones. `threads` >= 1 insert in parallel.
  [[nodiscard]] Status Sync(const ItemMatrixView& items, std::span<const ItemId> changed, int threads = 1);
  size_t size() const;
  // The `k` items with the highest approximate score for `query` (dim floats), best first.
  void Search(std::span<const float> query, size_t k, std::vector<ItemId>* out) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Scores `candidates` (and the query's boosted items) exactly and keeps the
// best n, as TopNScorer would among them: exclusions, boosts, -inf terms.
void RerankTopN(const ItemMatrixView& items, const TopNQuery& query, std::span<const ItemId> candidates, size_t n,
                std::vector<ScoredItem>* out);

}  // namespace streamrec::emitter
