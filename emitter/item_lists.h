// The item-level lists, computed the same way for the live surfaces
// (SurfaceEmitter) and the offline evaluation:
//
// - similar items: cosine of the item embeddings plus `cooc_blend` times the
//   normalised co-occurrence (IKNN's score), exact over all items;
// - bought together: the strongest normalised co-occurrences within carts and
//   purchases;
// - trending: items by time-decayed event count, overall and per category.
//
// Thread-safety: none; one thread per object.
#pragma once

#include <cstddef>
#include <functional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "catalog/catalog.h"
#include "emitter/emitter.h"
#include "emitter/topn.h"

namespace streamrec::emitter {

// Whether an item may appear in a list (availability); null = every item.
using ItemFilter = std::function<bool(ItemId)>;

class SimilarItemsScorer {
 public:
  // With kBFloat16 (where the CPU has it) the dense pass reads a bfloat16
  // packing of the normalised copy, made at the first Score after Prepare
  // (items added later are converted on the fly), and the candidates are
  // re-scored exactly (see TopNScorer): half the bytes streamed per pass and
  // no per-pass packing, which at a few targets per pass is what it costs.
  SimilarItemsScorer(size_t n, float cooc_blend, ScoringPrecision precision = ScoringPrecision::kFloat32)
      : scorer_(n, kMaxBlockRows, precision), cooc_blend_(cooc_blend) {}

  // Takes a normalised copy of the item embeddings (O(items x dim)): call it
  // when the model has moved on, not per item. Items added later are copied
  // as they appear (Score extends the copy; they are not filtered until the
  // next Prepare).
  void Prepare(const ModelView& model, const ItemFilter& allowed);
  // out[k] = the best n items for targets[k]; the target itself, `exclude[k]`
  // (may be empty or shorter) and filtered items are left out.
  void Score(const ModelView& model, std::span<const ItemId> targets, std::span<const std::vector<ItemId>> exclude,
             std::vector<std::vector<ScoredItem>>* out);

 private:
  void Extend(const ModelView& model, const ItemFilter& allowed);

  TopNScorer scorer_;
  float cooc_blend_;
  std::vector<float> normalized_;
  std::vector<float> terms_;  // 0, or -inf for filtered items
  PackedItems packed_;        // normalized_ in bfloat16, with kBFloat16
  bool packed_stale_ = true;  // Prepare ran since packed_ was made
  size_t rows_ = 0;
  size_t dim_ = 0;
  std::vector<std::vector<std::pair<ItemId, float>>> boosts_;
  std::vector<std::vector<ItemId>> excluded_;
  std::vector<TopNQuery> queries_;
  std::vector<float> zero_;
};

// The strongest basket co-occurrences of `item`, best first, at most n.
void BoughtTogether(const ModelView& model, ItemId item, size_t n, const ItemFilter& allowed,
                    std::vector<ScoredItem>* out);

// Trending lists: built from the model's decayed counts, kept until rebuilt.
class TrendingLists {
 public:
  // `depth` items per list are kept (callers filter some out: keep more than they show).
  explicit TrendingLists(size_t depth) : depth_(depth) {}

  // Scores are decayed counts relative to the top item (1 = the most trending).
  void Build(const ModelView& model, const catalog::Catalog* catalog, const ItemFilter& allowed);
  const std::vector<ScoredItem>& global() const { return global_; }
  // Empty for an unknown category.
  std::span<const ScoredItem> category(catalog::CategoryId id) const;
  size_t category_count() const { return by_category_.size(); }
  bool built() const { return built_; }

 private:
  size_t depth_;
  bool built_ = false;
  std::vector<ScoredItem> global_;
  std::vector<std::vector<ScoredItem>> by_category_;
};

// The first n items of `lists` (in order, each list in turn) that are not in
// `exclude` and not yet taken: the fallback list of a user with little history.
void MergeTrending(std::span<const std::span<const ScoredItem>> lists, std::span<const ItemId> exclude, size_t n,
                   std::vector<ScoredItem>* out);

}  // namespace streamrec::emitter
