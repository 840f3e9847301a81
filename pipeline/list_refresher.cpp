#include "pipeline/list_refresher.h"

#include <algorithm>

namespace streamrec::pipeline {

ListRefresher::ListRefresher(const emitter::EmitterOptions& options)
    : queue_(options.min_refresh_interval_ms), max_pending_(options.max_pending_lists) {}

void ListRefresher::Owe(std::string_view user, int32_t partition, int64_t source_offset, int64_t now_ms,
                        int64_t event_ms, int64_t consumed_ms) {
  const size_t before = queue_.pending();
  const emitter::DueList& entry = queue_.Mark(user, partition, source_offset, now_ms, event_ms, consumed_ms);
  changes_.push_back({user, partition, entry.source_offset, entry.since_ms, true, queue_.pending() > before});
}

Status ListRefresher::Restore(store::Store* store, int32_t partition, int64_t now_ms, size_t* restored) {
  *restored = 0;
  return store->LoadPendingLists(partition, [&](const PendingListChange& p) {
    queue_.Mark(p.user, p.partition, p.source_offset, std::min(now_ms, p.since_ms));
    ++*restored;
  });
}

Status ListRefresher::Take(int64_t now_ms, size_t max, const AcquireFn& acquire,
                           std::vector<emitter::ListRequest>* out) {
  out->clear();
  due_.clear();
  taken_times_.clear();
  queue_.TakeDue(now_ms, max, &due_);
  for (emitter::DueList& d : due_) {
    Target target;
    STREAMREC_RETURN_IF_ERROR(acquire(d, &target));
    out->push_back({target.user_id, target.record, d.partition, d.source_offset});
    changes_.push_back({target.user_id, d.partition, d.source_offset, d.since_ms, false});
    taken_times_.push_back({d.since_ms, d.event_ms, d.consumed_ms});
    taken_.push_back(std::move(d));
  }
  return Status::Ok();
}

void ListRefresher::OweAgain(int64_t now_ms) {
  for (const emitter::DueList& d : taken_) {
    const emitter::DueList& entry = queue_.Mark(d.user, d.partition, d.source_offset, now_ms);
    changes_.push_back({d.user, d.partition, entry.source_offset, entry.since_ms, true});
  }
}

void ListRefresher::Committed() {
  changes_.clear();
  taken_.clear();
}

}  // namespace streamrec::pipeline
