// The learner as the emitter sees it (emitter::ModelView), so the emitter
// does not depend on the learner.
#pragma once

#include "emitter/emitter.h"
#include "learner/learner.h"

namespace streamrec::model {

class LearnerModel : public emitter::ModelView {
 public:
  explicit LearnerModel(const learner::Learner* learner) : learner_(learner) {}

  ItemMatrixView Items() const override { return learner_->Items(); }
  void QueryVector(const UserRecord& user, std::span<float> out) const override { learner_->QueryVector(user, out); }
  void Boosts(const UserRecord& user, const BoostScales& scales,
              std::vector<std::pair<ItemId, float>>* out) const override {
    learner_->Boosts(user, out, scales);
  }
  ItemId BoostSource(const UserRecord& user, ItemId item) const override { return learner_->BoostSource(user, item); }
  const std::string& ItemExternalId(ItemId id) const override { return learner_->ItemExternalId(id); }
  std::optional<ItemId> FindItem(std::string_view external_id) const override {
    return learner_->FindItem(external_id);
  }
  uint64_t ItemEvents(ItemId id) const override { return learner_->ItemEvents(id); }
  void ItemNeighbors(ItemId item, bool basket, std::vector<std::pair<ItemId, float>>* out) const override {
    learner_->ItemNeighbors(item, basket, out);
  }
  std::span<const float> ItemRecency() const override { return learner_->ItemRecency(); }

 private:
  const learner::Learner* learner_;
};

}  // namespace streamrec::model
