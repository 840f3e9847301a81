#include "store/user_cache.h"

namespace streamrec::store {

UserCache::UserCache(Store* store, size_t capacity) : store_(store), capacity_(capacity < 1 ? 1 : capacity) {}

Status UserCache::Acquire(std::string_view external_id, CachedUser* out) {
  auto it = entries_.find(external_id);
  bool is_new = false;
  if (it == entries_.end()) {
    ++misses_;
    Entry entry;
    bool found = false;
    STREAMREC_RETURN_IF_ERROR(store_->GetUser(external_id, &entry.record, &found));
    is_new = !found;
    it = entries_.emplace(std::string(external_id), std::move(entry)).first;
    lru_.push_front(it->first);
    it->second.lru = lru_.begin();
  } else {
    ++hits_;
    lru_.splice(lru_.begin(), lru_, it->second.lru);
  }
  const bool first_touch = it->second.batch != batch_;
  if (first_touch) {
    it->second.batch = batch_;
    it->second.touched_index = static_cast<uint32_t>(touched_.size());
  }
  out->external_id = it->first;
  out->record = &it->second.record;
  out->is_new = is_new;
  out->touched_index = it->second.touched_index;
  if (first_touch) touched_.push_back(*out);
  return Status::Ok();
}

uint64_t UserCache::SealBatch() {
  touched_.clear();
  return batch_++;
}

void UserCache::Evict(uint64_t written) {
  // Least recently used last: once the last one is unwritten, so are all before it.
  while (entries_.size() > capacity_) {
    auto victim = entries_.find(lru_.back());
    if (victim->second.batch > written) break;
    lru_.pop_back();
    entries_.erase(victim);
  }
}

void UserCache::Clear() {
  touched_.clear();
  lru_.clear();
  entries_.clear();
  ++batch_;
}

}  // namespace streamrec::store
