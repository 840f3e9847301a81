#include "store/user_cache.h"

#include <optional>

namespace streamrec::store {

UserCache::UserCache(Store* store, size_t capacity) : store_(store), capacity_(capacity < 1 ? 1 : capacity) {}

Status UserCache::Peek(std::string_view external_id, UserRecord* out, bool* found) const {
  const uint64_t hash = StringViewHash()(external_id);
  const std::optional<uint32_t> slot =
      index_.Find(hash, [&](uint32_t s) { return At(s).external_id == external_id; });
  if (slot) {
    *out = At(*slot).record;
    *found = true;
    return Status::Ok();
  }
  // Not cached: the store holds its latest record (only written users are evicted).
  return store_->GetUser(external_id, out, found);
}

Status UserCache::Acquire(std::string_view external_id, CachedUser* out) {
  const uint64_t hash = StringViewHash()(external_id);
  const std::optional<uint32_t> found =
      index_.Find(hash, [&](uint32_t slot) { return At(slot).external_id == external_id; });
  bool is_new = false;
  uint32_t slot = 0;
  if (found) {
    ++hits_;
    slot = *found;
    Unlink(slot);
  } else {
    ++misses_;
    slot = NewEntry(external_id, hash);
    bool in_store = false;
    Status s = store_->GetUser(external_id, &At(slot).record, &in_store);
    if (!s.ok()) {
      FreeEntry(slot);
      return s;
    }
    is_new = !in_store;
    index_.Insert(hash, slot);
    ++size_;
  }
  LinkFront(slot);
  Entry& entry = At(slot);
  if (entry.sealed_slot != kNotSealed) CopyOut(&entry);  // about to change
  const bool first_touch = entry.batch != batch_;
  if (first_touch) {
    entry.batch = batch_;
    entry.touched_index = static_cast<uint32_t>(touched_.size());
    touched_entries_.push_back(&entry);
  }
  out->external_id = entry.external_id;
  out->record = &entry.record;
  out->is_new = is_new;
  out->touched_index = entry.touched_index;
  if (first_touch) touched_.push_back(*out);
  return Status::Ok();
}

uint32_t UserCache::NewEntry(std::string_view external_id, uint64_t hash) {
  uint32_t slot = 0;
  if (!free_.empty()) {
    slot = free_.back();
    free_.pop_back();
  } else {
    if ((next_unused_ >> kChunkBits) == chunks_.size()) chunks_.push_back(std::make_unique<Entry[]>(kChunk));
    slot = next_unused_++;
  }
  Entry& entry = At(slot);
  entry.external_id.assign(external_id);
  entry.hash = hash;
  entry.batch = 0;
  entry.sealed_slot = kNotSealed;
  return slot;
}

// The record's vectors keep their storage for the next user in this slot.
void UserCache::FreeEntry(uint32_t slot) {
  Entry& entry = At(slot);
  UserRecord& r = entry.record;
  r.id = UserId(0);
  r.seq = 0;
  r.events = 0;
  r.embedding.clear();
  r.history.clear();
  r.purchased.clear();
  r.basket.clear();
  r.list.clear();
  r.list_reference = ItemId(UserRecord::kNoItem);
  r.partition = -1;
  entry.newer = entry.older = kNone;
  free_.push_back(slot);
}

void UserCache::Unlink(uint32_t slot) {
  Entry& entry = At(slot);
  (entry.newer != kNone ? At(entry.newer).older : most_recent_) = entry.older;
  (entry.older != kNone ? At(entry.older).newer : least_recent_) = entry.newer;
  entry.newer = entry.older = kNone;
}

void UserCache::LinkFront(uint32_t slot) {
  Entry& entry = At(slot);
  entry.older = most_recent_;
  (most_recent_ != kNone ? At(most_recent_).newer : least_recent_) = slot;
  most_recent_ = slot;
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
  copy.external_id = entry->external_id;
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
  // Least recently used first: once one is unwritten, so are all after it.
  while (size_ > capacity_) {
    const uint32_t victim = least_recent_;
    Entry& entry = At(victim);
    if (entry.batch > written || entry.sealed_slot != kNotSealed) break;
    Unlink(victim);
    index_.Erase(entry.hash, victim);
    FreeEntry(victim);
    --size_;
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
  while (least_recent_ != kNone) {
    const uint32_t slot = least_recent_;
    Unlink(slot);
    FreeEntry(slot);
  }
  index_.Clear();
  size_ = 0;
  ++batch_;
}

}  // namespace streamrec::store
