#include "emitter/refresh_queue.h"

#include <algorithm>

namespace streamrec::emitter {

RefreshQueue::RefreshQueue(int64_t min_interval_ms) : min_interval_ms_(min_interval_ms) {}

const DueList& RefreshQueue::Mark(std::string_view user, int32_t partition, int64_t source_offset, int64_t now_ms) {
  auto it = entries_.find(user);
  if (it == entries_.end()) it = entries_.emplace(std::string(user), Entry()).first;
  Entry& e = it->second;
  if (e.owed) {
    e.due.source_offset = std::max(e.due.source_offset, source_offset);
    e.due.partition = partition;
    return e.due;
  }
  e.owed = true;
  e.due = {it->first, partition, source_offset, now_ms};
  e.due_ms = e.refreshed_ms == INT64_MIN ? now_ms : std::max(now_ms, e.refreshed_ms + min_interval_ms_);
  e.generation = next_generation_++;
  heap_.push({e.due_ms, e.generation, it->first});
  ++pending_;
  return e.due;
}

void RefreshQueue::SkipStale() {
  while (!heap_.empty()) {
    const Slot& top = heap_.top();
    auto it = entries_.find(top.user);
    if (it != entries_.end() && it->second.owed && it->second.generation == top.generation) return;
    heap_.pop();
  }
}

void RefreshQueue::TakeDue(int64_t now_ms, size_t max, std::vector<DueList>* out) {
  ForgetRefreshedBefore(now_ms - min_interval_ms_);
  for (size_t taken = 0; taken < max; ++taken) {
    SkipStale();
    if (heap_.empty() || heap_.top().due_ms > now_ms) return;
    auto it = entries_.find(heap_.top().user);
    heap_.pop();
    Entry& e = it->second;
    out->push_back(std::move(e.due));
    --pending_;
    if (min_interval_ms_ <= 0) {
      entries_.erase(it);
      continue;
    }
    e.owed = false;
    e.refreshed_ms = now_ms;
    refreshed_.emplace_back(now_ms, it->first);
  }
}

void RefreshQueue::ForgetRefreshedBefore(int64_t cutoff_ms) {
  while (!refreshed_.empty() && refreshed_.front().first < cutoff_ms) {
    auto it = entries_.find(refreshed_.front().second);
    // Forget only users neither owed again nor refreshed since.
    if (it != entries_.end() && !it->second.owed && it->second.refreshed_ms < cutoff_ms) entries_.erase(it);
    refreshed_.pop_front();
  }
}

void RefreshQueue::DropPartition(int32_t partition) {
  for (auto it = entries_.begin(); it != entries_.end();) {
    if (it->second.owed && it->second.due.partition == partition) {
      --pending_;
      it = entries_.erase(it);
    } else {
      ++it;
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
