// ItemAdjustments: the per-item additions to every user's scores that come
// from the catalog and the rules: -inf for an item that may not be listed
// (unavailable, or hidden by a -inf rule), the sum of the matching boost
// weights otherwise. Rebuilt only when the catalog or the rules changed
// (items the learner adds since are computed alone); applied to the model's
// per-item term once per Publish.
#pragma once

#include <cstdint>
#include <vector>

#include "catalog/catalog.h"
#include "emitter/rules.h"

namespace streamrec::emitter {

class ItemAdjustments {
 public:
  // Rebuilds if any input changed since the last call.
  void Update(const catalog::Catalog* catalog, const ListRules& rules, uint64_t rules_generation, size_t rows);
  // False when nothing is adjusted (no catalog, or every item available and
  // unboosted): the model's terms stand.
  bool active() const { return active_; }
  // model_terms[i] + adjustment[i] / score_scale, in a buffer owned by this
  // object: the dense pass's terms (ItemMatrixView::biases) and, in a buffer
  // of its own, the listed terms (ItemMatrixView::listed_biases). The boost
  // weights are in the blend's units, the terms in list-score units
  // (ItemMatrixView::score_scale, > 0).
  const float* Apply(const float* model_terms, size_t rows, float score_scale);
  const float* ApplyListed(const float* model_terms, size_t rows, float score_scale);
  bool Allowed(ItemId id) const { return !active_ || id.value() >= adjust_.size() || adjust_[id.value()] > kHidden; }
  bool Boosted(ItemId id) const { return active_ && id.value() < adjust_.size() && adjust_[id.value()] > 0; }

 private:
  static constexpr float kHidden = -3.0e38F;

  const float* ApplyInto(const float* model_terms, size_t rows, float score_scale, std::vector<float>* out) const;
  // Recomputes the additions of items [from, rows).
  void Rebuild(const catalog::Catalog* catalog, const ListRules& rules, size_t from, size_t rows);

  bool active_ = false;
  bool built_ = false;
  const catalog::Catalog* catalog_ = nullptr;
  uint64_t catalog_version_ = 0;
  uint64_t rules_generation_ = 0;
  size_t rows_ = 0;
  std::vector<float> adjust_;
  size_t adjusted_ = 0;  // items whose addition is not zero
  std::vector<float> applied_;
  std::vector<float> applied_listed_;
};

}  // namespace streamrec::emitter
