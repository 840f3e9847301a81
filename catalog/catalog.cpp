#include "catalog/catalog.h"

#include <algorithm>

namespace streamrec::catalog {

Catalog::Slot& Catalog::SlotFor(ItemId item) {
  if (item.value() >= slots_.size()) slots_.resize(item.value() + 1);
  return slots_[item.value()];
}

const Catalog::Slot* Catalog::Find(ItemId item) const {
  return item.value() < slots_.size() ? &slots_[item.value()] : nullptr;
}

CategoryId Catalog::InternCategory(const std::string& name) {
  auto [it, inserted] = categories_.try_emplace(name, CategoryId(static_cast<uint32_t>(category_names_.size())));
  if (inserted) {
    category_names_.push_back(name);
    category_items_.emplace_back();
  }
  return it->second;
}

LabelId Catalog::InternLabel(const std::string& name) {
  return labels_.try_emplace(name, LabelId(static_cast<uint32_t>(labels_.size()))).first->second;
}

void Catalog::Reindex(ItemId item, Slot* slot) {
  const CatalogEntry& e = *slot->entry;
  std::optional<CategoryId> category;
  if (!e.category.empty()) category = InternCategory(e.category);
  if (category != slot->category) {
    if (slot->category) std::erase(category_items_[slot->category->value()], item);
    if (category) category_items_[category->value()].push_back(item);
    slot->category = category;
  }
  slot->labels.clear();
  if (!e.brand.empty()) slot->labels.push_back(InternLabel("brand:" + e.brand));
  for (const std::string& tag : e.tags) slot->labels.push_back(InternLabel("tag:" + tag));
}

void Catalog::Schedule(ItemId item, const CatalogEntry& e, int64_t now_ms) {
  for (int64_t edge : {e.available_from_ms, e.available_until_ms}) {
    if (edge != kNoTime && edge > now_ms) timers_.emplace(edge, item.value());
  }
}

ApplyOutcome Catalog::Apply(ItemId item, const CatalogUpdate& update, int64_t now_ms,
                            std::optional<int64_t> first_seen_ms) {
  Slot& slot = SlotFor(item);
  ApplyOutcome outcome;
  const bool was_available = slot.available;
  ++version_;
  if (update.removed) {
    if (slot.entry) --entry_count_;
    if (slot.category) std::erase(category_items_[slot.category->value()], item);
    slot.entry.reset();
    slot.category.reset();
    slot.labels.clear();
    slot.withdrawn = true;
    slot.available = false;
  } else {
    outcome.first_entry = !slot.entry && slot.first_seen_ms == kNoTime;
    if (!slot.entry) ++entry_count_;
    slot.entry = update.entry;
    slot.withdrawn = false;
    slot.available = update.entry.AvailableAt(now_ms);
    Reindex(item, &slot);
    Schedule(item, update.entry, now_ms);
    if (outcome.first_entry) {
      slot.first_seen_ms = first_seen_ms.value_or(now_ms);
      arrivals_.push_back({item, slot.first_seen_ms});
      if (arrivals_.size() > kMaxArrivals) arrivals_.pop_front();
    }
  }
  outcome.became_unavailable = was_available && !slot.available;
  return outcome;
}

void Catalog::Advance(int64_t now_ms, std::vector<ItemId>* ended) {
  now_ms_ = std::max(now_ms_, now_ms);
  while (!timers_.empty() && timers_.top().first <= now_ms_) {
    const ItemId item(timers_.top().second);
    timers_.pop();
    Slot& slot = slots_[item.value()];
    if (!slot.entry) continue;
    const bool available = slot.entry->AvailableAt(now_ms_);
    if (available == slot.available) continue;
    slot.available = available;
    ++version_;
    if (!available) ended->push_back(item);
  }
}

bool Catalog::Available(ItemId item) const {
  const Slot* s = Find(item);
  return s == nullptr || s->available;
}

bool Catalog::Tracks(ItemId item) const {
  const Slot* s = Find(item);
  return s != nullptr && (s->entry.has_value() || s->withdrawn);
}

const CatalogEntry* Catalog::Entry(ItemId item) const {
  const Slot* s = Find(item);
  return s && s->entry ? &*s->entry : nullptr;
}

int64_t Catalog::FirstSeen(ItemId item) const {
  const Slot* s = Find(item);
  return s ? s->first_seen_ms : kNoTime;
}

std::optional<CategoryId> Catalog::CategoryOf(ItemId item) const {
  const Slot* s = Find(item);
  return s ? s->category : std::nullopt;
}

std::optional<CategoryId> Catalog::FindCategory(std::string_view name) const {
  auto it = categories_.find(std::string(name));
  if (it == categories_.end()) return std::nullopt;
  return it->second;
}

const std::string& Catalog::CategoryName(CategoryId id) const { return category_names_[id.value()]; }

std::span<const ItemId> Catalog::ItemsIn(CategoryId category) const { return category_items_[category.value()]; }

std::optional<LabelId> Catalog::FindLabel(std::string_view name) const {
  auto it = labels_.find(std::string(name));
  if (it == labels_.end()) return std::nullopt;
  return it->second;
}

std::span<const LabelId> Catalog::LabelsOf(ItemId item) const {
  const Slot* s = Find(item);
  if (s == nullptr) return {};
  return s->labels;
}

}  // namespace streamrec::catalog
