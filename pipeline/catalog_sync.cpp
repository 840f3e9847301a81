#include "pipeline/catalog_sync.h"

#include "common/logging.h"

namespace streamrec::pipeline {
namespace {

// Items of a category whose mean embedding starts a new item of it.
constexpr size_t kMaxPeers = 256;

}  // namespace

void CatalogSync::Refused(std::string_view item) {
  if (refused_++ % 10000 != 0) return;
  ModuleLogger("pipeline")->error("catalog item {} has no slot ({} so far): the catalogue holds more items than "
                                  "learner.max_items; raise it", item, refused_);
}

void CatalogSync::Queue(ItemId item) {
  withdrawn_.push_back(item);
  if (item.value() >= queued_.size()) queued_.resize(item.value() + 1, false);
  if (queued_[item.value()]) return;
  queued_[item.value()] = true;
  stale_.push_back(item);
}

Status CatalogSync::Load(int64_t now_ms) {
  STREAMREC_RETURN_IF_ERROR(store_->LoadCatalog([&](const store::CatalogRecord& r) {
    const std::optional<ItemId> id = learner_->InternItemLike(r.update.entry.item_id, {});
    if (!id) return Refused(r.update.entry.item_id);
    catalog_.Apply(*id, r.update, now_ms, r.first_seen_ms);
    if (!catalog_.Available(*id)) Queue(*id);
  }));
  if (catalog_.entries() > 0) {
    ModuleLogger("pipeline")->info("catalog: {} items, {} unavailable", catalog_.entries(), stale_.size());
  }
  return Status::Ok();
}

void CatalogSync::Apply(std::span<const CatalogUpdate> updates, int64_t now_ms,
                        std::vector<store::CatalogRecord>* records) {
  for (const CatalogUpdate& u : updates) {
    // A new item starts from its category's peers; a known one is only pinned.
    std::span<const ItemId> peers;
    if (std::optional<catalog::CategoryId> c = catalog_.FindCategory(u.entry.category); c && !u.removed) {
      // The category's latest arrivals stand for it: loading a large
      // catalog stays linear in its size.
      peers = catalog_.ItemsIn(*c);
      if (peers.size() > kMaxPeers) peers = peers.last(kMaxPeers);
    }
    const std::optional<ItemId> id = learner_->InternItemLike(u.entry.item_id, peers);
    if (!id) {
      Refused(u.entry.item_id);
      continue;
    }
    const catalog::ApplyOutcome outcome = catalog_.Apply(*id, u, now_ms);
    if (outcome.became_unavailable) Queue(*id);
    records->push_back({u, catalog_.FirstSeen(*id) == kNoTime ? now_ms : catalog_.FirstSeen(*id)});
  }
}

void CatalogSync::Advance(int64_t now_ms) {
  ended_.clear();
  catalog_.Advance(now_ms, &ended_);
  for (ItemId id : ended_) Queue(id);
}

Status CatalogSync::TakeStaleHolders(const std::function<bool(int32_t)>& owned, size_t max,
                                     std::vector<StaleHolder>* out) {
  while (!stale_.empty() && out->size() < max) {
    const ItemId item = stale_.front();
    size_t found = 0;
    if (!catalog_.Available(item)) {
      STREAMREC_RETURN_IF_ERROR(store_->ForEachHolder(item, [&](std::string_view user, int32_t partition) {
        if (out->size() >= max || !owned(partition)) return;
        out->push_back({std::string(user), partition, item});
        ++found;
      }));
    }
    // A full batch may have left holders of this item: it stays for the next one.
    if (found > 0 && out->size() >= max) break;
    queued_[item.value()] = false;
    stale_.pop_front();
  }
  return Status::Ok();
}

}  // namespace streamrec::pipeline
