// The commit window: deliveries, then one WriteBatch; the state changelog and its adoption.
#include "pipeline/pipeline_impl.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <limits>

#include "common/clock.h"
#include "pipeline/commit_window.h"

namespace streamrec::pipeline {

void Pipeline::Impl::OpenWindow(Clock::time_point now) {
  window_open_ = true;
  window_started_ = now;
  window_opened_ms_ = NowMillis();
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
  const CommitWindowState window{Clock::now() - window_started_, writer_->in_flight(), cache_->touched().size(),
                                 learner_.dirty_bytes()};
  return CommitWindowDue(window, std::chrono::milliseconds(config_.pipeline.commit_interval_ms),
                         config_.pipeline.user_cache_capacity, config_.pipeline.commit_max_item_mb << 20);
}

Status Pipeline::Impl::CommitWindow(const std::atomic<bool>& stop) {
  const Clock::time_point started = Clock::now();
  STREAMREC_RETURN_IF_ERROR(FinishLists());
  if (!window_open_) return Status::Ok();
  // The last window's sealing first: its changelog goes before this one's.
  // Its write runs on while this window is encoded.
  STREAMREC_RETURN_IF_ERROR(ContinueSealing(/*all=*/true));
  const Clock::time_point lists_done = Clock::now();
  markers_ = window_offsets_;
  for (const Source& source : sources_) {
    // A partition whose users were refreshed without new events gets a
    // changelog marker at its current position.
    if (markers_.contains(source.partition)) continue;
    auto stored = offsets_.find({config_.kafka.events_topic, source.partition});
    if (stored != offsets_.end()) markers_[source.partition] = stored->second;
  }
  // Under a backlog the events wait anyway: the users are encoded now, from
  // their records (a copy costs about as much as encoding), and the write
  // starts at once (the pipeline's rate follows its writes). Otherwise they are
  // copied after this stop and encoded on the writer's thread: the stop is short.
  copying_users_ = !events_waiting_;
  if (handoff_) SealChangelog();
  // The window's state but its items (and the users it copies) is encoded
  // while the broker acknowledges the deliveries.
  std::unique_ptr<store::PreparedCommit> prepared =
      spare_commit_ ? std::move(spare_commit_) : std::make_unique<store::PreparedCommit>();
  store::CommitBatch state;
  CollectState(&state);
  if (!copying_users_) {
    for (const store::CachedUser& u : cache_->touched()) state.users.push_back({u.external_id, u.record});
  }
  store_->Prepare(state, prepared.get());
  const Clock::time_point encoded = Clock::now();
  bool redelivered = false;
  STREAMREC_RETURN_IF_ERROR(RetryUntilOk(stop, "delivering lists, dead letters and item updates", [&] {
    STREAMREC_RETURN_IF_ERROR(ingest_->FlushDeadLetters(kFlushTimeoutMs));
    // The window's item updates reach the other instances before its events commit.
    if (exchange_) STREAMREC_RETURN_IF_ERROR(exchange_->PublishAndFlush());
    Status s = emitter_->Flush(kFlushTimeoutMs);
    if (!s.ok()) {
      refresher_.OweAgain(NowMillis());  // the failed lists are owed again, with the state
      redelivered = true;
    }
    return s;
  }));
  if (exchange_ && crash_after_item_records_ > 0 && exchange_->counters().published >= crash_after_item_records_) {
    std::fprintf(stderr, "crashing on purpose after %llu item update records delivered, before their commit\n",
                 static_cast<unsigned long long>(exchange_->counters().published));
    std::fflush(stderr);
    std::_Exit(137);
  }
  if (redelivered) {
    state.pending = refresher_.changes();  // now with the lists owed again
    store_->Prepare(state, prepared.get());
  }
  // The window's sessions (no event was learned since CollectState), encoded
  // on the writer's thread; the swap hands back an earlier window's records,
  // whose storage TakeDirtySessions reuses.
  learner_.TakeDirtySessions(&dirty_sessions_);
  prepared->DeferSessions(&dirty_sessions_);
  const Clock::time_point delivered = Clock::now();
  STREAMREC_RETURN_IF_ERROR(FinishWrite(stop, /*block=*/true));  // the last window's write
  const Clock::time_point waited = Clock::now();
  const size_t lists = refresher_.lists_since_commit();
  // The changed items and users are sealed here, copied a slice at a time
  // between the next batches (ContinueSealing), then their changelog is
  // written, and they are encoded on the writer's thread.
  learner_.SealDirtyItems();
  STREAMREC_RETURN_IF_ERROR(SubmitCommit(std::move(prepared), cache_->touched().size()));
  if (log_->should_log(spdlog::level::debug)) {
    log_->debug("commit of {} users, {} lists: lists in flight and the last sealing {:.1f} ms, encode {:.1f} MB "
                "in {:.1f} ms, deliver {:.1f} ms more, wait for the last write {:.1f} ms, seal {:.1f} ms",
                in_flight_.users, lists, Ms(lists_done - started), static_cast<double>(in_flight_.bytes) / 1e6,
                Ms(encoded - lists_done), Ms(delivered - encoded), Ms(waited - delivered), Ms(Clock::now() - waited));
  }
  // The commit's cost on this thread, spread over the events it covered, is
  // part of what each event costs (the list budget follows it).
  commit_cost_per_event_ = (Clock::now() - started) / std::max<uint64_t>(1, window_events_);
  refresher_.Committed();
  window_open_ = false;
  committing_since_ms_ = window_opened_ms_;
  return Status::Ok();
}

Status Pipeline::Impl::ContinueSealing(bool all) {
  if (!sealing_) return Status::Ok();
  const Clock::time_point started = Clock::now();
  if (!changelog_written_) {
    constexpr size_t kAll = std::numeric_limits<size_t>::max();
    const bool items_copied = learner_.CopySealedItems(all ? kAll : kSealedItemsPerSlice);
    const bool users_copied = !copying_users_ || cache_->CopySealed(all ? kAll : kSealedUsersPerSlice);
    if (!items_copied || !users_copied) {
      sealing_took_ += Clock::now() - started;
      return Status::Ok();
    }
    learner_.TakeSealedItems(&dirty_items_);
    sealed_items_ = dirty_items_.size();
    sealing_->DeferItems(&dirty_items_);
    if (copying_users_) {
      cache_->TakeSealed(&user_copies_);
      // The copies are in the order the users were touched (UserCache::TakeSealed).
      for (size_t i = 0; i < user_copies_.size() && handoff_; ++i) {
        changed_.push_back({user_copies_[i].external_id, &user_copies_[i].record, changelog_partitions_[i]});
      }
    }
    if (handoff_) STREAMREC_RETURN_IF_ERROR(WriteChangelog());
    changelog_written_ = true;
  }
  if (handoff_) {
    if (!all && !handoff_->Settled()) {
      sealing_took_ += Clock::now() - started;
      return Status::Ok();
    }
    STREAMREC_RETURN_IF_ERROR(RetryUntilOk(*stop_, "delivering the state changelog", [&] {
      Status s = handoff_->Flush();
      // A failed delivery is gone: write the changelog again (latest-value records, harmless twice).
      if (!s.ok()) STREAMREC_RETURN_IF_ERROR(WriteChangelog());
      return s;
    }));
    AppendChangelogPositions();
  }
  if (copying_users_) {
    sealing_->DeferUsers(&user_copies_);
    cache_->ReturnCopies(&user_copies_);  // their storage is filled again by the next sealing
  }
  writer_->Submit(std::move(sealing_));
  changelog_written_ = false;
  sealing_took_ += Clock::now() - started;
  commit_seal_.Record(Ms(sealing_took_));
  if (log_->should_log(spdlog::level::debug)) {
    log_->debug("commit of {} users: they and {} items copied, changelog written, in {:.1f} ms in all",
                in_flight_.users, sealed_items_, Ms(sealing_took_));
  }
  sealing_took_ = Clock::duration::zero();
  return Status::Ok();
}

Status Pipeline::Impl::FinishWrite(const std::atomic<bool>& stop, bool block) {
  STREAMREC_RETURN_IF_ERROR(ContinueSealing(/*all=*/block));
  if (!writer_->in_flight() || (!block && !writer_->Done())) return Status::Ok();
  Clock::duration took{};
  Status s = writer_->Wait(&spare_commit_, &took);
  commit_write_.Record(Ms(took));
  spare_commit_->Trim(kKeptCommitBytes);
  if (!s.ok()) {
    if (!s.retryable()) return s.WithContext("committing state");
    log_->error("committing state failed, retrying: {}", s.ToString());
    ReportProblem("committing state: " + s.ToString());
    STREAMREC_RETURN_IF_ERROR(RetryUntilOk(stop, "committing state", [&] { return store_->Write(spare_commit_.get()); }));
  }
  durable_ = in_flight_.counters;
  last_commit_ms_ = NowMillis();
  committing_since_ms_ = 0;
  if (health_) health_->Update([](server::HealthSnapshot& h) { h.problem.clear(); });
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

void Pipeline::Impl::SealChangelog() {
  changed_.clear();
  changelog_partitions_.clear();
  for (const store::CachedUser& u : cache_->touched()) {
    // Without copies the records are written now (ContinueSealing at the stop).
    if (copying_users_) {
      changelog_partitions_.push_back(SourceOf(u).partition);
    } else {
      changed_.push_back({u.external_id, u.record, SourceOf(u).partition});
    }
  }
  changelog_next_ = markers_;
  changelog_from_.clear();
  for (const auto& [partition, next] : markers_) {
    auto it = offsets_.find({config_.kafka.events_topic, partition});
    if (it != offsets_.end()) changelog_from_[partition] = it->second;
  }
}

Status Pipeline::Impl::WriteChangelog() {
  return handoff_->Write(changed_, changelog_from_, changelog_next_, Names());
}

void Pipeline::Impl::AppendChangelogPositions() {
  store::CommitBatch positions;
  for (const auto& [partition, next] : changelog_next_) {
    positions.offsets[{handoff_->topic(), partition}] = handoff_->Position(partition);
  }
  positions.counters = in_flight_.counters;  // the sealed window's, written again
  store_->Append(positions, sealing_.get());
  for (const auto& [key, next] : positions.offsets) offsets_[key] = next;
}

Status Pipeline::Impl::AdoptChangelog(int32_t partition, bool* complete) {
  *complete = false;
  auto pos = offsets_.find({handoff_->topic(), partition});
  const int64_t position = pos == offsets_.end() ? 0 : pos->second;
  const AdoptUsers adopt = [&](std::vector<RestoredUser>* users) { return CommitAdoptedUsers(partition, users); };
  // Between slices of the changelog: the group is served (a rebalance may
  // take the partition away: the restore stops, its chunks stay harmless).
  const BetweenReads between = [&](bool* stop_restore) {
    STREAMREC_RETURN_IF_ERROR(ServeGroup());
    *stop_restore = stop_->load() || !ingest_->Holds(partition);
    return Status::Ok();
  };
  RestoreOutcome outcome;
  STREAMREC_RETURN_IF_ERROR(RetryUntilOk(*stop_, "restoring partition state", [&] {
    return handoff_->Restore(partition, position, Names(), adopt, between, &outcome);
  }));
  if (outcome.chunks > 0) cache_->Clear();  // cached users are clean between batches; adopted ones must be re-read
  if (outcome.stopped) return Status::Ok();
  *complete = true;
  if (!outcome.adopted) return Status::Ok();
  // Only now the positions: until they commit, a restart restores again from
  // `position` and the chunks already committed are written again, the same.
  store::CommitBatch commit;
  learner_.TakeDirtyItems(&commit.items);
  commit.offsets[{config_.kafka.events_topic, partition}] = outcome.next_event_offset;
  commit.offsets[{handoff_->topic(), partition}] = outcome.changelog_position;
  commit.counters = counters_;
  STREAMREC_RETURN_IF_ERROR(RetryUntilOk(*stop_, "committing adopted state", [&] { return store_->Commit(commit); }));
  for (const auto& [key, next] : commit.offsets) offsets_[key] = next;
  durable_ = counters_;
  return Status::Ok();
}

Status Pipeline::Impl::CommitAdoptedUsers(int32_t partition, std::vector<RestoredUser>* users) {
  store::CommitBatch commit;
  for (RestoredUser& u : *users) {
    u.record.id = UserId(counters_.next_user_id++);
    commit.users.push_back({u.external_id, &u.record});
    // Their current lists join this instance's reverse index, so a catalog
    // change refreshes them here too.
    for (ItemId item : u.record.list) commit.holders.push_back({item, u.external_id, partition, true});
    // The previous owner may not have published their latest lists.
    commit.pending.push_back({u.external_id, partition, -1, NowMillis(), true});
  }
  learner_.TakeDirtyItems(&commit.items);  // items first seen in adopted histories
  commit.counters = counters_;
  STREAMREC_RETURN_IF_ERROR(RetryUntilOk(*stop_, "committing adopted state", [&] { return store_->Commit(commit); }));
  durable_ = counters_;
  return Status::Ok();
}

Status Pipeline::Impl::RestoreOwedLists(int32_t partition) {
  size_t restored = 0;
  STREAMREC_RETURN_IF_ERROR(refresher_.Restore(store_.get(), partition, NowMillis(), &restored));
  if (restored > 0) log_->info("events/{}: {} users owed a list since before the restart", partition, restored);
  return Status::Ok();
}

void Pipeline::Impl::CollectState(store::CommitBatch* out) {
  out->catalog = catalog_records_;
  out->holders = holder_changes_;
  out->pending = refresher_.changes();
  out->counters = counters_;
}

Status Pipeline::Impl::SubmitCommit(std::unique_ptr<store::PreparedCommit> prepared, size_t users) {
  // Positions go last (the changelog's once it is delivered: AppendChangelogPositions).
  store::CommitBatch positions;
  for (const auto& [partition, next] : markers_) positions.offsets[{config_.kafka.events_topic, partition}] = next;
  for (const auto& [partition, next] : window_catalog_offsets_) {
    positions.offsets[{config_.kafka.catalog_topic, partition}] = next;
  }
  if (exchange_) exchange_->AddPositions(&positions.offsets);
  positions.counters = counters_;
  store_->Append(positions, prepared.get());
  // Later windows build on these positions (changelog markers) before the write is done.
  for (const auto& [key, next] : positions.offsets) offsets_[key] = next;
  in_flight_.counters = counters_;
  in_flight_.positions = window_offsets_;
  in_flight_.users = users;
  in_flight_.bytes = prepared->bytes();
  in_flight_.cache_batch = copying_users_ ? cache_->SealForCopy() : cache_->SealBatch();
  sealing_ = std::move(prepared);  // submitted once its items and users are copied
  // Under a backlog (see CommitWindow) the items are copied now and the write
  // starts at once; otherwise the copying starts after the next batch.
  return copying_users_ ? Status::Ok() : ContinueSealing(/*all=*/true);
}

}  // namespace streamrec::pipeline
