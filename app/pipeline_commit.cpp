// The commit window: deliveries, then one WriteBatch; the state changelog and its adoption.
#include "app/pipeline_impl.h"

#include <algorithm>
#include <chrono>
#include <limits>

#include "common/clock.h"

namespace streamrec::app {

void Pipeline::Impl::OpenWindow(Clock::time_point now) {
  window_open_ = true;
  window_started_ = now;
  sources_.clear();
  catalog_records_.clear();
  holder_changes_.clear();
  stale_holders_.clear();
  window_offsets_.clear();
  window_catalog_offsets_.clear();
  window_events_ = 0;
}

bool Pipeline::Impl::WindowDue() const {
  if (!window_open_) return false;
  const auto interval = std::chrono::milliseconds(config_.pipeline.commit_interval_ms);
  return Clock::now() - window_started_ >= interval ||
         cache_->touched().size() * 2 >= config_.pipeline.user_cache_capacity;
}

Status Pipeline::Impl::CommitWindow(const std::atomic<bool>& stop) {
  const Clock::time_point started = Clock::now();
  STREAMREC_RETURN_IF_ERROR(FinishLists());
  if (!window_open_) return Status::Ok();
  const Clock::time_point lists_done = Clock::now();
  markers_ = window_offsets_;
  for (const Source& source : sources_) {
    // A partition whose users were refreshed without new events gets a
    // changelog marker at its current position.
    if (markers_.contains(source.partition)) continue;
    auto stored = offsets_.find({config_.kafka.events_topic, source.partition});
    if (stored != offsets_.end()) markers_[source.partition] = stored->second;
  }
  if (handoff_) STREAMREC_RETURN_IF_ERROR(WriteChangelog());
  const Clock::time_point changelog_done = Clock::now();
  // The window's state is encoded while the broker acknowledges the deliveries.
  std::unique_ptr<store::PreparedCommit> prepared =
      spare_commit_ ? std::move(spare_commit_) : std::make_unique<store::PreparedCommit>();
  store::CommitBatch state;
  CollectState(&state);
  store_->Prepare(state, prepared.get());
  const Clock::time_point encoded = Clock::now();
  bool redelivered = false;
  STREAMREC_RETURN_IF_ERROR(RetryUntilOk(stop, "delivering lists, dead letters and the state changelog", [&] {
    STREAMREC_RETURN_IF_ERROR(ingest_->FlushDeadLetters(kFlushTimeoutMs));
    if (Status s = emitter_->Flush(kFlushTimeoutMs); !s.ok()) {
      refresher_.OweAgain(NowMillis());  // the failed lists are owed again, with the state
      redelivered = true;
      return s;
    }
    if (!handoff_) return Status::Ok();
    Status s = handoff_->Flush();
    // A failed delivery is gone: write the window's changelog again (latest-value records, harmless twice).
    if (!s.ok()) STREAMREC_RETURN_IF_ERROR(WriteChangelog());
    return s;
  }));
  if (redelivered) {
    state.pending = refresher_.changes();  // now with the lists owed again
    store_->Prepare(state, prepared.get());
  }
  const Clock::time_point delivered = Clock::now();
  STREAMREC_RETURN_IF_ERROR(FinishWrite(stop, /*block=*/true));  // the last window's write
  const Clock::time_point waited = Clock::now();
  const size_t lists = refresher_.lists_since_commit();
  // The changed items are sealed here, copied a slice at a time between the
  // next batches (ContinueSealing) and encoded on the writer's thread.
  learner_.SealDirtyItems();
  SubmitCommit(std::move(prepared), state.users.size());
  if (log_->should_log(spdlog::level::debug)) {
    log_->debug("commit of {} users, {} lists: lists in flight {:.1f} ms, changelog {:.1f} ms, encode {:.1f} MB in "
                "{:.1f} ms, deliver {:.1f} ms more, wait for the last write {:.1f} ms", in_flight_.users, lists,
                Ms(lists_done - started), Ms(changelog_done - lists_done), static_cast<double>(in_flight_.bytes) / 1e6,
                Ms(encoded - changelog_done), Ms(delivered - encoded), Ms(waited - delivered));
  }
  // The commit's cost on this thread, spread over the events it covered, is
  // part of what each event costs (the list budget follows it).
  commit_cost_per_event_ = (Clock::now() - started) / std::max<uint64_t>(1, window_events_);
  refresher_.Committed();
  window_open_ = false;
  return Status::Ok();
}

void Pipeline::Impl::ContinueSealing(bool all) {
  if (!sealing_) return;
  const Clock::time_point started = Clock::now();
  if (!learner_.CopySealedItems(all ? std::numeric_limits<size_t>::max() : kSealedItemsPerSlice)) {
    sealing_took_ += Clock::now() - started;
    return;
  }
  learner_.TakeSealedItems(&dirty_items_);
  const size_t items = dirty_items_.size();
  sealing_->DeferItems(&dirty_items_);
  writer_->Submit(std::move(sealing_));
  sealing_took_ += Clock::now() - started;
  if (log_->should_log(spdlog::level::debug)) {
    log_->debug("commit of {} users: {} items copied in {:.1f} ms in all", in_flight_.users, items, Ms(sealing_took_));
  }
  sealing_took_ = Clock::duration::zero();
}

Status Pipeline::Impl::FinishWrite(const std::atomic<bool>& stop, bool block) {
  ContinueSealing(/*all=*/block);
  if (!writer_->in_flight() || (!block && !writer_->Done())) return Status::Ok();
  Clock::duration took{};
  Status s = writer_->Wait(&spare_commit_, &took);
  if (!s.ok()) {
    if (!s.retryable()) return s.WithContext("committing state");
    log_->error("committing state failed, retrying: {}", s.ToString());
    ReportProblem("committing state: " + s.ToString());
    STREAMREC_RETURN_IF_ERROR(RetryUntilOk(stop, "committing state", [&] { return store_->Write(spare_commit_.get()); }));
  }
  durable_ = in_flight_.counters;
  last_commit_ms_ = NowMillis();
  if (health_) health_->Update([](HealthSnapshot& h) { h.problem.clear(); });
  cache_->Evict(in_flight_.cache_batch);
  ingest_->ReportPositions(in_flight_.positions);
  if (log_->should_log(spdlog::level::debug)) {
    log_->debug("commit of {} users written in {:.1f} ms ({:.1f} MB, {} entries with the items)", in_flight_.users,
                Ms(took), static_cast<double>(spare_commit_->bytes()) / 1e6, spare_commit_->entries());
  }
  return Status::Ok();
}

Status Pipeline::Impl::CommitAndWait(const std::atomic<bool>& stop) {
  STREAMREC_RETURN_IF_ERROR(CommitWindow(stop));
  return FinishWrite(stop, /*block=*/true);
}

Status Pipeline::Impl::WriteChangelog() {
  changed_.clear();
  for (const store::CachedUser& u : cache_->touched()) {
    changed_.push_back({u.external_id, u.record, SourceOf(u).partition});
  }
  std::map<int32_t, int64_t> from;
  for (const auto& [partition, next] : markers_) {
    auto it = offsets_.find({config_.kafka.events_topic, partition});
    if (it != offsets_.end()) from[partition] = it->second;
  }
  return handoff_->Write(changed_, from, markers_, Names());
}

Status Pipeline::Impl::AdoptChangelog(int32_t partition) {
  auto pos = offsets_.find({handoff_->topic(), partition});
  RestoreOutcome outcome;
  STREAMREC_RETURN_IF_ERROR(RetryUntilOk(*stop_, "restoring partition state", [&] {
    return handoff_->Restore(partition, pos == offsets_.end() ? 0 : pos->second, Names(), &outcome);
  }));
  if (!outcome.adopted) return Status::Ok();
  store::CommitBatch commit;
  for (RestoredUser& u : outcome.users) {
    u.record.id = UserId(counters_.next_user_id++);
    commit.users.push_back({u.external_id, &u.record});
    // Their current lists join this instance's reverse index, so a catalog
    // change refreshes them here too.
    for (ItemId item : u.record.list) commit.holders.push_back({item, u.external_id, partition, true});
    // The previous owner may not have published their latest lists.
    commit.pending.push_back({u.external_id, partition, -1, NowMillis(), true});
  }
  learner_.TakeDirtyItems(&commit.items);  // items first seen in adopted histories
  commit.offsets[{config_.kafka.events_topic, partition}] = outcome.next_event_offset;
  commit.offsets[{handoff_->topic(), partition}] = outcome.changelog_position;
  commit.counters = counters_;
  STREAMREC_RETURN_IF_ERROR(RetryUntilOk(*stop_, "committing adopted state", [&] { return store_->Commit(commit); }));
  for (const auto& [key, next] : commit.offsets) offsets_[key] = next;
  durable_ = counters_;
  cache_->Clear();  // cached users are clean between batches; adopted ones must be re-read
  return Status::Ok();
}

Status Pipeline::Impl::RestoreOwedLists(int32_t partition) {
  size_t restored = 0;
  STREAMREC_RETURN_IF_ERROR(refresher_.Restore(store_.get(), partition, NowMillis(), &restored));
  if (restored > 0) log_->info("events/{}: {} users owed a list since before the restart", partition, restored);
  return Status::Ok();
}

void Pipeline::Impl::CollectState(store::CommitBatch* out) {
  for (const store::CachedUser& u : cache_->touched()) out->users.push_back({u.external_id, u.record});
  out->catalog = catalog_records_;
  out->holders = holder_changes_;
  out->pending = refresher_.changes();
  out->counters = counters_;
}

void Pipeline::Impl::SubmitCommit(std::unique_ptr<store::PreparedCommit> prepared, size_t users) {
  // Positions go last: the changelog's are those its deliveries reached.
  store::CommitBatch positions;
  for (const auto& [partition, next] : markers_) {
    positions.offsets[{config_.kafka.events_topic, partition}] = next;
    if (handoff_) positions.offsets[{handoff_->topic(), partition}] = handoff_->Position(partition);
  }
  for (const auto& [partition, next] : window_catalog_offsets_) {
    positions.offsets[{config_.kafka.catalog_topic, partition}] = next;
  }
  positions.counters = counters_;
  store_->Append(positions, prepared.get());
  // Later windows build on these positions (changelog markers) before the write is done.
  for (const auto& [key, next] : positions.offsets) offsets_[key] = next;
  in_flight_.counters = counters_;
  in_flight_.positions = window_offsets_;
  in_flight_.users = users;
  in_flight_.bytes = prepared->bytes();
  in_flight_.cache_batch = cache_->SealBatch();
  sealing_ = std::move(prepared);  // submitted once its items are copied
  // Under a backlog the events wait anyway: all are copied now, and the
  // write starts at once (the pipeline's rate follows its writes).
  ContinueSealing(/*all=*/events_waiting_);
}

}  // namespace streamrec::app
