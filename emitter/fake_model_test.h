// Test helper: a small hand-made ModelView (emitter tests only).
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "emitter/emitter.h"

namespace streamrec::emitter::testing {

// Items in 2-D with names "a", "b", ...; scores are dot products with the
// user's embedding plus the item's bias. Co-occurrence and basket rows and
// per-item decayed counts are set by the test.
class FakeModel : public ModelView {
 public:
  FakeModel(std::vector<float> embeddings, std::vector<float> biases)
      : emb_(std::move(embeddings)), bias_(std::move(biases)) {
    for (size_t i = 0; i < bias_.size(); ++i) {
      names_.push_back(i < 26 ? std::string(1, static_cast<char>('a' + i)) : "i" + std::to_string(i));
    }
    recency_.assign(bias_.size(), -1e30F);
  }

  // ItemMatrixView::score_scale: what a list score is worth in blend units.
  float score_scale = 1.0F;

  ItemMatrixView Items() const override {
    ItemMatrixView view{emb_.data(), bias_.data(), bias_.size(), 2};
    view.score_scale = score_scale;
    return view;
  }
  void QueryVector(const UserRecord& user, std::span<float> out) const override {
    std::copy(user.embedding.begin(), user.embedding.end(), out.begin());
  }
  void Boosts(const UserRecord& user, const BoostScales& scales,
              std::vector<std::pair<ItemId, float>>* out) const override {
    out->clear();
    if (scales.cooc == 0.0F) return;
    for (ItemId a : user.history) {
      auto it = cooc.find(a.value());
      if (it == cooc.end()) continue;
      for (const auto& [c, w] : it->second) out->emplace_back(c, w * scales.cooc);
    }
  }
  // The first history item whose row holds `item`.
  ItemId BoostSource(const UserRecord& user, ItemId item) const override {
    for (ItemId a : user.history) {
      auto it = cooc.find(a.value());
      if (it == cooc.end()) continue;
      for (const auto& [c, w] : it->second) {
        if (c == item) return a;
      }
    }
    return ItemId(0);
  }
  const std::string& ItemExternalId(ItemId id) const override { return names_[id.value()]; }
  std::optional<ItemId> FindItem(std::string_view name) const override {
    for (size_t i = 0; i < names_.size(); ++i) {
      if (names_[i] == name) return ItemId(static_cast<uint32_t>(i));
    }
    return std::nullopt;
  }
  uint64_t ItemEvents(ItemId id) const override { return events.count(id.value()) ? events.at(id.value()) : 1; }
  void ItemNeighbors(ItemId item, bool basket_only, std::vector<std::pair<ItemId, float>>* out) const override {
    out->clear();
    const auto& table = basket_only ? basket : cooc;
    if (auto it = table.find(item.value()); it != table.end()) *out = it->second;
  }
  std::span<const float> ItemRecency() const override { return recency_; }

  void SetRecency(std::vector<float> r) { recency_ = std::move(r); }
  void SetEmbedding(uint32_t item, float x, float y) {
    emb_[2 * item] = x;
    emb_[2 * item + 1] = y;
  }

  std::map<uint32_t, std::vector<std::pair<ItemId, float>>> cooc;
  std::map<uint32_t, std::vector<std::pair<ItemId, float>>> basket;
  std::map<uint32_t, uint64_t> events;

 private:
  std::vector<float> emb_;
  std::vector<float> bias_;
  std::vector<std::string> names_;
  std::vector<float> recency_;
};

}  // namespace streamrec::emitter::testing
