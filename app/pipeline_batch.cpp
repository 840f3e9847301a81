// One micro-batch: learn its events, owe the changed users a list, refresh the due lists.
#include "app/pipeline_impl.h"

#include <algorithm>
#include <chrono>

#include "common/clock.h"
#include "common/hash.h"

namespace streamrec::app {

Status Pipeline::Impl::ProcessBatch(const std::atomic<bool>& stop) {
  const Clock::time_point started = Clock::now();
  if (!window_open_) OpenWindow(started);
  const int64_t now_ms = NowMillis();
  catalog_->Apply(batch_.catalog, now_ms, &catalog_records_);
  for (const auto& [partition, next] : batch_.catalog_next_offsets) window_catalog_offsets_[partition] = next;
  // The store's reverse index must hold every published list before it is
  // asked which lists hold an item that just became unavailable.
  if (catalog_->has_stale() && (!holder_changes_.empty() || writer_->in_flight())) {
    STREAMREC_RETURN_IF_ERROR(CommitAndWait(stop));
  }
  if (!window_open_) OpenWindow(started);
  batch_users_.clear();
  ++batch_number_;
  for (size_t k = 0; k < batch_.size; ++k) STREAMREC_RETURN_IF_ERROR(Apply(batch_.events[k]));
  for (const auto& [user_id, record] : batch_users_) {
    const Source& source = last_source_[record];
    refresher_.Owe(user_id, source.partition, source.offset, now_ms);
  }
  for (const auto& [partition, next] : batch_.next_offsets) window_offsets_[partition] = next;
  window_events_ += batch_.consumed;
  STREAMREC_RETURN_IF_ERROR(OweStaleHolders(now_ms));
  const Clock::time_point learned = Clock::now();
  const size_t lists_before = refresher_.lists_since_commit();
  STREAMREC_RETURN_IF_ERROR(RefreshLists(started));
  const size_t lists = refresher_.lists_since_commit() - lists_before;
  counters_.applied_events += batch_.size;
  counters_.rejected_events += batch_.rejected;
  ++stats_.batches;
  stats_.consumed += batch_.consumed;
  stats_.applied += batch_.size;
  stats_.rejected += batch_.rejected;
  stats_.lists += lists;
  if (log_->should_log(spdlog::level::debug)) {
    log_->debug("batch of {} events, {} lists ({} owed): learn {:.1f} ms, lists {:.1f} ms", batch_.size, lists,
                refresher_.pending(), Ms(learned - started), Ms(Clock::now() - learned));
  }
  return Status::Ok();
}

Status Pipeline::Impl::OweStaleHolders(int64_t now_ms) {
  stale_holders_.clear();
  if (!catalog_->has_stale()) return Status::Ok();
  STREAMREC_RETURN_IF_ERROR(catalog_->TakeStaleHolders([this](int32_t p) { return ingest_->Owns(p); },
                                                       kMaxStaleRefreshPerBatch, &stale_holders_));
  for (const StaleHolder& h : stale_holders_) {
    refresher_.Owe(h.user, h.partition, -1, now_ms);
    holder_changes_.push_back({h.item, h.user, h.partition, false});
  }
  if (!stale_holders_.empty()) log_->debug("owing {} lists that hold unavailable items", stale_holders_.size());
  return Status::Ok();
}

Status Pipeline::Impl::NextBatch() {
  const size_t max_events = std::min(config_.pipeline.batch_max_events, refresher_.room());
  const int wait_ms = refresher_.HasDue(NowMillis()) ? 0 : config_.pipeline.batch_max_wait_ms;
  STREAMREC_RETURN_IF_ERROR(ingest_->NextBatch(&batch_, max_events, wait_ms));
  events_waiting_ = max_events == 0 || batch_.consumed >= max_events;
  return Status::Ok();
}

Status Pipeline::Impl::RefreshLists(Clock::time_point started) {
  const Clock::time_point now = Clock::now();
  Clock::time_point deadline = now + kRefreshSlice;
  if (events_waiting_ && refresher_.room() >= config_.pipeline.batch_max_events) {
    const auto events_took =
        std::chrono::duration<double>((now - started) + commit_cost_per_event_ * batch_.consumed);
    deadline = now + std::chrono::duration_cast<Clock::duration>(events_took * config_.emitter.refresh_share);
  }
  list_deadline_ = deadline;
  bool first = true;
  auto publish = [&](std::span<const emitter::ListRequest> requests) {
    // Changed items reach the approximate index once per batch.
    std::span<const ItemId> changed = first ? std::span<const ItemId>(touched_items_) : std::span<const ItemId>();
    first = false;
    return emitter_->Publish(model_, &catalog_->catalog(), &surfaces_->trending(), requests, changed,
                             &holder_changes_);
  };
  auto acquire = [this](const emitter::DueList& due, ListRefresher::Target* target) {
    store::CachedUser user;
    STREAMREC_RETURN_IF_ERROR(cache_->Acquire(due.user, &user));
    if (user.is_new) learner_.InitUser(due.user, UserId(counters_.next_user_id++), user.record);
    last_source_.try_emplace(user.record, Source{due.partition, due.source_offset, 0});
    *target = {user.external_id, user.record};
    return Status::Ok();
  };
  STREAMREC_RETURN_IF_ERROR(refresher_.RefreshDue(NowMillis(), deadline, acquire, publish));
  if (first && !touched_items_.empty()) return publish({});
  return Status::Ok();
}

Status Pipeline::Impl::Apply(const ingest::IngestedEvent& e) {
  store::CachedUser user;
  STREAMREC_RETURN_IF_ERROR(cache_->Acquire(e.event.user, &user));
  if (user.is_new) learner_.InitUser(e.event.user, UserId(counters_.next_user_id++), user.record);
  // Keyed by the event's Kafka position: the same event always draws the same negatives.
  const uint64_t key = HashCombine(static_cast<uint64_t>(e.partition), static_cast<uint64_t>(e.offset));
  quality_.TestBeforeLearning(*user.record, e.event.item, e.event.type, key);
  const ItemId item = learner_.InternItem(e.event.item);
  learner_.Observe(user.record, item, e.event.type, e.event.ts_ms, key);
  touched_items_.push_back(item);
  Source& source = last_source_[user.record];
  if (source.batch != batch_number_) batch_users_.push_back({user.external_id, user.record});
  source = {e.partition, e.offset, batch_number_};
  return Status::Ok();
}

}  // namespace streamrec::app
