#include "emitter/refresh_queue.h"

#include <algorithm>
#include <optional>

namespace streamrec::emitter {

RefreshQueue::RefreshQueue(int64_t min_interval_ms) : min_interval_ms_(min_interval_ms) {}

uint32_t RefreshQueue::FindOrAdd(std::string_view user) {
  const uint64_t hash = StringViewHash()(user);
  const std::optional<uint32_t> found =
      index_.Find(hash, [&](uint32_t slot) { return entries_[slot].due.user == user; });
  if (found) return *found;
  uint32_t slot = 0;
  if (free_.empty()) {
    slot = static_cast<uint32_t>(entries_.size());
    entries_.emplace_back();
  } else {
    slot = free_.back();
    free_.pop_back();
  }
  Entry& e = entries_[slot];
  e.due.user.assign(user);
  e.hash = hash;
  e.refreshed_ms = INT64_MIN;
  e.owed = false;
  e.live = true;
  index_.Insert(hash, slot);
  return slot;
}

void RefreshQueue::Forget(uint32_t entry) {
  Entry& e = entries_[entry];
  index_.Erase(e.hash, entry);
  e.live = false;
  e.owed = false;
  free_.push_back(entry);
}

const DueList& RefreshQueue::Mark(std::string_view user, int32_t partition, int64_t source_offset, int64_t now_ms,
                                  int64_t event_ms, int64_t consumed_ms) {
  const uint32_t slot = FindOrAdd(user);
  Entry& e = entries_[slot];
  if (e.owed) {
    e.due.source_offset = std::max(e.due.source_offset, source_offset);
    e.due.partition = partition;
    if (e.due.event_ms < 0) {
      e.due.event_ms = event_ms;
      e.due.consumed_ms = consumed_ms;
    }
    return e.due;
  }
  e.owed = true;
  e.due.partition = partition;
  e.due.source_offset = source_offset;
  e.due.since_ms = now_ms;
  e.due.event_ms = event_ms;
  e.due.consumed_ms = consumed_ms;
  e.due_ms = e.refreshed_ms == INT64_MIN ? now_ms : std::max(now_ms, e.refreshed_ms + min_interval_ms_);
  e.generation = next_generation_++;
  heap_.push({e.due_ms, e.generation, slot});
  ++pending_;
  return e.due;
}

void RefreshQueue::SkipStale() {
  while (!heap_.empty()) {
    const Slot& top = heap_.top();
    const Entry& e = entries_[top.entry];
    if (e.owed && e.generation == top.generation) return;
    heap_.pop();
  }
}

void RefreshQueue::TakeDue(int64_t now_ms, size_t max, std::vector<DueList>* out) {
  ForgetRefreshedBefore(now_ms - min_interval_ms_);
  for (size_t taken = 0; taken < max; ++taken) {
    SkipStale();
    if (heap_.empty() || heap_.top().due_ms > now_ms) return;
    const uint32_t slot = heap_.top().entry;
    heap_.pop();
    Entry& e = entries_[slot];
    out->push_back(e.due);
    --pending_;
    if (min_interval_ms_ <= 0) {
      Forget(slot);
      continue;
    }
    e.owed = false;
    e.refreshed_ms = now_ms;
    refreshed_.emplace_back(now_ms, slot);
  }
}

void RefreshQueue::ForgetRefreshedBefore(int64_t cutoff_ms) {
  while (!refreshed_.empty() && refreshed_.front().first < cutoff_ms) {
    const Entry& e = entries_[refreshed_.front().second];
    // Forget only users neither owed again nor refreshed since (the slot may
    // hold another user by now: one as forgettable, or it would not match).
    if (e.live && !e.owed && e.refreshed_ms < cutoff_ms) Forget(refreshed_.front().second);
    refreshed_.pop_front();
  }
}

void RefreshQueue::DropPartition(int32_t partition) {
  for (uint32_t slot = 0; slot < entries_.size(); ++slot) {
    const Entry& e = entries_[slot];
    if (e.live && e.owed && e.due.partition == partition) {
      --pending_;
      Forget(slot);
    }
  }
}

int64_t RefreshQueue::LagMs(int64_t now_ms) {
  SkipStale();
  if (heap_.empty()) return 0;
  return std::max<int64_t>(0, now_ms - heap_.top().due_ms);
}

bool RefreshQueue::HasDue(int64_t now_ms) {
  SkipStale();
  return !heap_.empty() && heap_.top().due_ms <= now_ms;
}

}  // namespace streamrec::emitter
