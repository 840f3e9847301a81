#include "emitter/item_adjustments.h"

#include <limits>
#include <unordered_map>

namespace streamrec::emitter {

void ItemAdjustments::Update(const catalog::Catalog* catalog, const ListRules& rules, uint64_t rules_generation,
                             size_t rows) {
  const uint64_t version = catalog ? catalog->version() : 0;
  const bool same_inputs =
      built_ && catalog == catalog_ && version == catalog_version_ && rules_generation == rules_generation_;
  if (same_inputs && rows == rows_) return;
  // Only new items (the learner met them since): adjust those alone.
  const size_t from = same_inputs && rows > rows_ ? rows_ : 0;
  built_ = true;
  catalog_ = catalog;
  catalog_version_ = version;
  rules_generation_ = rules_generation;
  rows_ = rows;
  if (catalog == nullptr) {
    active_ = false;  // labels come from the catalog: nothing to adjust
    adjust_.clear();
    return;
  }
  Rebuild(catalog, rules, from, rows);
}

void ItemAdjustments::Rebuild(const catalog::Catalog* catalog, const ListRules& rules, size_t from, size_t rows) {
  if (from == 0) {
    adjust_.clear();
    adjusted_ = 0;
  }
  adjust_.resize(rows, 0.0F);
  std::unordered_map<uint32_t, float> by_category;
  std::unordered_map<uint32_t, float> by_label;
  for (const auto& [label, weight] : rules.boost) {
    constexpr std::string_view kCategory = "category:";
    if (std::string_view(label).starts_with(kCategory)) {
      if (auto c = catalog->FindCategory(std::string_view(label).substr(kCategory.size()))) {
        by_category[c->value()] += weight;
      }
    } else if (auto l = catalog->FindLabel(label)) {
      by_label[l->value()] += weight;
    }
  }
  const float hidden = -std::numeric_limits<float>::infinity();
  for (size_t i = from; i < rows; ++i) {
    const ItemId id(static_cast<uint32_t>(i));
    float sum = 0.0F;
    if (!catalog->Available(id)) {
      sum = hidden;
    } else {
      if (auto c = catalog->CategoryOf(id)) {
        if (auto it = by_category.find(c->value()); it != by_category.end()) sum += it->second;
      }
      for (catalog::LabelId l : catalog->LabelsOf(id)) {
        if (auto it = by_label.find(l.value()); it != by_label.end()) sum += it->second;
      }
    }
    adjust_[i] = sum;
    if (sum != 0.0F) ++adjusted_;
  }
  // With every addition zero the model's terms stand as they are (no copy per Apply).
  active_ = adjusted_ > 0;
}

const float* ItemAdjustments::Apply(const float* model_terms, size_t rows, float score_scale) {
  return ApplyInto(model_terms, rows, score_scale, &applied_);
}

const float* ItemAdjustments::ApplyListed(const float* model_terms, size_t rows, float score_scale) {
  return ApplyInto(model_terms, rows, score_scale, &applied_listed_);
}

const float* ItemAdjustments::ApplyInto(const float* model_terms, size_t rows, float score_scale,
                                        std::vector<float>* out) const {
  out->resize(rows);
  const float per_unit = 1.0F / score_scale;  // -inf stays -inf
  for (size_t i = 0; i < rows; ++i) (*out)[i] = model_terms[i] + adjust_[i] * per_unit;
  return out->data();
}

}  // namespace streamrec::emitter
