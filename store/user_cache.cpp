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
  if (it->second.sealed_slot != kNotSealed) CopyOut(&it->second);  // about to change
  const bool first_touch = it->second.batch != batch_;
  if (first_touch) {
    it->second.batch = batch_;
    it->second.touched_index = static_cast<uint32_t>(touched_.size());
    touched_entries_.push_back(&it->second);
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
  touched_entries_.clear();
  return batch_++;
}

uint64_t UserCache::SealForCopy() {
  sealed_.swap(touched_entries_);
  copies_.resize(sealed_.size());
  for (size_t i = 0; i < sealed_.size(); ++i) sealed_[i]->sealed_slot = static_cast<uint32_t>(i);
  copy_cursor_ = 0;
  copies_left_ = sealed_.size();
  return SealBatch();
}

void UserCache::CopyOut(Entry* entry) {
  UserCopy& copy = copies_[entry->sealed_slot];
  copy.external_id = *entry->lru;
  copy.record = entry->record;
  entry->sealed_slot = kNotSealed;
  --copies_left_;
}

bool UserCache::CopySealed(size_t max) {
  for (size_t copied = 0; copy_cursor_ < sealed_.size() && copied < max; ++copy_cursor_) {
    Entry* entry = sealed_[copy_cursor_];
    if (entry->sealed_slot == kNotSealed) continue;  // copied when acquired
    CopyOut(entry);
    ++copied;
  }
  return copies_left_ == 0;
}

void UserCache::TakeSealed(std::vector<UserCopy>* out) {
  out->swap(copies_);
  sealed_.clear();
}

void UserCache::Evict(uint64_t written) {
  // Least recently used last: once the last one is unwritten, so are all before it.
  while (entries_.size() > capacity_) {
    auto victim = entries_.find(lru_.back());
    if (victim->second.batch > written || victim->second.sealed_slot != kNotSealed) break;
    lru_.pop_back();
    entries_.erase(victim);
  }
}

void UserCache::ReturnCopies(std::vector<UserCopy>* records) {
  copies_.swap(*records);
  records->clear();
}

void UserCache::Clear() {
  CopySealed(SIZE_MAX);
  touched_.clear();
  touched_entries_.clear();
  lru_.clear();
  entries_.clear();
  ++batch_;
}

}  // namespace streamrec::store
