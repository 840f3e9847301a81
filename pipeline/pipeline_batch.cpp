// One micro-batch: learn its events, owe the changed users a list, refresh the due lists.
#include "pipeline/pipeline_impl.h"

#include <algorithm>
#include <chrono>

#include "common/clock.h"
#include "common/hash.h"

namespace streamrec::pipeline {

Status Pipeline::Impl::ProcessBatch(const std::atomic<bool>& stop) {
  const Clock::time_point started = Clock::now();
  if (!window_open_) OpenWindow(started);
  const int64_t now_ms = NowMillis();
  catalog_->Apply(batch_.catalog, now_ms, &catalog_records_);
  for (const auto& [partition, next] : batch_.catalog_next_offsets) window_catalog_offsets_[partition] = next;
  // The store's reverse index must hold every published list before it is
  // asked which lists hold an item that just became unavailable.
  if (catalog_->has_stale() && (!holder_changes_.empty() || writer_->in_flight() || sealing_)) {
    STREAMREC_RETURN_IF_ERROR(CommitAndWait(stop));
  }
  if (!window_open_) OpenWindow(started);
  batch_users_.clear();
  ++batch_number_;
  list_time_ = Clock::duration::zero();
  const uint64_t lists_before = stats_.lists;
  for (size_t k = 0; k < batch_.size; ++k) {
    if (k + kPrefetchAhead < batch_.size) cache_->Prefetch(batch_.events[k + kPrefetchAhead].event.user);
    STREAMREC_RETURN_IF_ERROR(Apply(batch_.events[k], now_ms));
    if ((k + 1) % kEventsPerListCheck == 0) STREAMREC_RETURN_IF_ERROR(ServiceLists(/*wait=*/false));
  }
  for (size_t k = 0; k < batch_users_.size(); ++k) {
    if (k + kPrefetchAhead < batch_users_.size()) refresher_.Prefetch(batch_users_[k + kPrefetchAhead].external_id);
    const store::CachedUser& user = batch_users_[k];
    const Source& source = SourceOf(user);
    refresher_.Owe(user.external_id, source.partition, source.offset, now_ms, source.first_event_ms,
                   batch_.received_ms);
  }
  for (const auto& [partition, next] : batch_.next_offsets) window_offsets_[partition] = next;
  window_events_ += batch_.consumed;
  STREAMREC_RETURN_IF_ERROR(OweStaleHolders(now_ms));
  STREAMREC_RETURN_IF_ERROR(emitter_->UpdateIndex(model_, touched_items_));
  STREAMREC_RETURN_IF_ERROR(ServiceLists(/*wait=*/false));
  SetItemListDeadline(started);
  UpdateListCredit(started);
  counters_.applied_events += batch_.size;
  counters_.rejected_events += batch_.rejected;
  const learner::Learner::BlendState blend = learner_.SaveBlend();
  counters_.blend.assign(blend.begin(), blend.end());
  ++stats_.batches;
  stats_.consumed += batch_.consumed;
  stats_.applied += batch_.size;
  stats_.rejected += batch_.rejected;
  if (log_->should_log(spdlog::level::debug) && batch_.consumed > 0) {
    log_->debug("batch of {} events, {} lists ({} owed): learn {:.1f} ms, lists {:.1f} ms on this thread",
                batch_.size, stats_.lists - lists_before, refresher_.pending(),
                Ms(Clock::now() - started - list_time_), Ms(list_time_));
  }
  return Status::Ok();
}

Status Pipeline::Impl::OweStaleHolders(int64_t now_ms) {
  if (!catalog_->has_stale()) return Status::Ok();
  taken_holders_.clear();
  STREAMREC_RETURN_IF_ERROR(catalog_->TakeStaleHolders([this](int32_t p) { return ingest_->Owns(p); },
                                                       kMaxStaleRefreshPerBatch, &taken_holders_));
  for (StaleHolder& taken : taken_holders_) {
    // Kept until the window commits: its holder changes view the user ids.
    const StaleHolder& h = stale_holders_.emplace_back(std::move(taken));
    refresher_.Owe(h.user, h.partition, -1, now_ms);
    holder_changes_.push_back({h.item, h.user, h.partition, false});
  }
  if (!taken_holders_.empty()) log_->debug("owing {} lists that hold unavailable items", taken_holders_.size());
  return Status::Ok();
}

Status Pipeline::Impl::NextBatch() {
  const size_t max_events = std::min(config_.pipeline.batch_max_events, refresher_.room());
  int wait_ms = config_.pipeline.batch_max_wait_ms;
  if (emitter_->busy()) {
    wait_ms = std::min(wait_ms, kPollWhileScoringMs);
  } else if (refresher_.HasDue(NowMillis())) {
    wait_ms = 0;
  }
  STREAMREC_RETURN_IF_ERROR(ingest_->NextBatch(&batch_, max_events, wait_ms));
  events_waiting_ = max_events == 0 || batch_.consumed >= max_events;
  // The pending set is full: nothing to learn until lists go out.
  if (max_events == 0) return ServiceLists(/*wait=*/true);
  return Status::Ok();
}

void Pipeline::Impl::SetItemListDeadline(Clock::time_point started) {
  const Clock::time_point now = Clock::now();
  list_deadline_ = now + kRefreshSlice;
  if (events_waiting_ && refresher_.room() >= config_.pipeline.batch_max_events) {
    const auto events_took =
        std::chrono::duration<double>((now - started) + commit_cost_per_event_ * batch_.consumed);
    list_deadline_ = now + std::chrono::duration_cast<Clock::duration>(events_took * config_.emitter.refresh_share);
  }
}

void Pipeline::Impl::UpdateListCredit(Clock::time_point started) {
  if (!events_waiting_) {
    list_credit_ = Clock::duration::zero();
    return;
  }
  const Clock::duration on_events = (Clock::now() - started - list_time_) + commit_cost_per_event_ * batch_.consumed;
  list_credit_ += std::chrono::duration_cast<Clock::duration>(on_events * config_.emitter.list_share) - list_time_;
  list_credit_ = std::clamp<Clock::duration>(list_credit_, -kMaxListDebt, kMaxListCredit);
}

Status Pipeline::Impl::ServiceLists(bool wait) {
  const Clock::time_point started = Clock::now();
  if (emitter_->busy() && (wait || emitter_->ready())) STREAMREC_RETURN_IF_ERROR(FinishOldestLists());
  const int64_t now_ms = NowMillis();
  // Under a backlog, lists start only while their share of this thread allows.
  const bool held = !wait && events_waiting_ && list_credit_ < Clock::duration::zero();
  // A second job while one is scored only when a full one is owed (a
  // backlog): built early, it would make the users owed after it wait a job longer.
  const bool early = emitter_->busy() && refresher_.pending() < config_.emitter.score_batch;
  if (held || early || !emitter_->can_begin() || !refresher_.HasDue(now_ms)) {
    list_time_ += Clock::now() - started;
    return Status::Ok();
  }
  // Publishing changes the users' records: they commit with this window.
  if (!window_open_) OpenWindow(started);
  auto acquire = [this](const emitter::DueList& due, ListRefresher::Target* target) {
    store::CachedUser user;
    STREAMREC_RETURN_IF_ERROR(cache_->Acquire(due.user, &user));
    if (user.is_new) learner_.InitUser(due.user, UserId(counters_.next_user_id++), user.record);
    Source& source = SourceOf(user);
    if (source.batch == 0 && source.offset < 0) source = {due.partition, due.source_offset, 0};
    *target = {user.external_id, user.record};
    return Status::Ok();
  };
  STREAMREC_RETURN_IF_ERROR(
      refresher_.Take(now_ms, std::max<size_t>(config_.emitter.score_batch, 64), acquire, &list_requests_));
  if (!list_requests_.empty()) {
    STREAMREC_RETURN_IF_ERROR(emitter_->Begin(model_, &catalog_->catalog(), list_requests_));
    ListJob& job = lists_in_flight_.emplace_back();
    job.lists = list_requests_.size();
    job.began = Clock::now();
    RecordTaken(now_ms, &job);
  }
  list_time_ += Clock::now() - started;
  return Status::Ok();
}

Status Pipeline::Impl::FinishLists() {
  while (emitter_->busy()) STREAMREC_RETURN_IF_ERROR(FinishOldestLists());
  return Status::Ok();
}

Status Pipeline::Impl::FinishOldestLists() {
  if (!emitter_->busy()) return Status::Ok();
  const Clock::time_point started = Clock::now();
  const ListJob job = std::move(lists_in_flight_.front());
  lists_in_flight_.pop_front();
  STREAMREC_RETURN_IF_ERROR(
      emitter_->Finish(model_, &catalog_->catalog(), &surfaces_->trending(), &holder_changes_));
  stats_.lists += job.lists;
  const Clock::time_point finished = Clock::now();
  RecordFinished(job, finished);
  if (log_->should_log(spdlog::level::trace)) {
    log_->trace("{} lists: scored in {:.1f} ms on the scoring thread, {:.1f} ms after they were begun; finished in {:.1f} ms",
                job.lists, Ms(emitter_->last_scoring_time()), Ms(started - job.began), Ms(finished - started));
  }
  return Status::Ok();
}

void Pipeline::Impl::RecordTaken(int64_t now_ms, ListJob* job) {
  using server::ListStage;
  for (const ListRefresher::TakenTimes& t : refresher_.last_taken()) {
    list_stages_[ListStage::kQueue].Record(static_cast<double>(now_ms - t.since_ms));
    job->event_ms.push_back(t.consumed_ms >= 0 ? t.event_ms : -1);
    if (t.consumed_ms < 0) continue;  // a catalog change or a restored list: no event
    list_stages_[ListStage::kLearn].Record(static_cast<double>(t.since_ms - t.consumed_ms));
    if (t.event_ms >= 0) list_stages_[ListStage::kFetch].Record(static_cast<double>(t.consumed_ms - t.event_ms));
  }
}

void Pipeline::Impl::RecordFinished(const ListJob& job, Clock::time_point finished) {
  using server::ListStage;
  const double scoring = Ms(emitter_->last_scoring_time());
  const double publish = std::max(0.0, Ms(finished - job.began) - scoring);
  const int64_t now_ms = NowMillis();
  for (int64_t event_ms : job.event_ms) {
    list_stages_[ListStage::kScore].Record(scoring);
    list_stages_[ListStage::kPublish].Record(publish);
    if (event_ms >= 0) list_stages_[ListStage::kTotal].Record(static_cast<double>(now_ms - event_ms));
  }
}

Status Pipeline::Impl::Apply(const ingest::IngestedEvent& e, int64_t now_ms) {
  store::CachedUser user;
  STREAMREC_RETURN_IF_ERROR(cache_->Acquire(e.event.user, &user));
  if (user.is_new) learner_.InitUser(e.event.user, UserId(counters_.next_user_id++), user.record);
  // Keyed by the event's Kafka position: the same event always draws the same negatives.
  const uint64_t key = HashCombine(static_cast<uint64_t>(e.partition), static_cast<uint64_t>(e.offset));
  quality_.TestBeforeLearning(*user.record, e.event.item, e.event.type, key, now_ms);
  // A refused item (the table is full of items seen more often lately)
  // teaches nothing; the user is still owed a list.
  const std::optional<ItemId> item = learner_.InternItem(e.event.item);
  if (ledger_.experiment().enabled()) Attribute(e.event, item, user.record);
  if (item) {
    learner::Learner::Scope scope =
        exchange_ ? exchange_->ScopeOf(e.partition, e.offset) : learner::Learner::Scope{e.partition};
    if (exchange_ && config_.pipeline.share_sessions) scope.user_key = learner::Learner::UserKey(e.event.user);
    learner_.Observe(user.record, *item, e.event.type, e.event.ts_ms, key, scope);
    if (!scope.item_side) ++user_only_events_;
    if (exchange_ && scope.record) STREAMREC_RETURN_IF_ERROR(exchange_->Learned(e.partition, e.offset));
    touched_items_.push_back(*item);
  }
  CheckPartition(e, user.record);
  Source& source = SourceOf(user);
  if (source.batch != batch_number_) {
    batch_users_.push_back(user);
    source.first_event_ms = e.appended_ms;
  }
  source.partition = e.partition;
  source.offset = e.offset;
  source.batch = batch_number_;
  return Status::Ok();
}

void Pipeline::Impl::Attribute(const Event& event, std::optional<ItemId> item, UserRecord* user) {
  experiment::Interaction interaction{item, event.type, event.ts_ms};
  interaction.list_seq = event.list_seq;
  if (event.quantity > 0) interaction.quantity = event.quantity;
  // Only a purchase has a price (the event's, else the catalog's): other events skip the look-up.
  if (event.type == EventType::kPurchase) {
    if (event.price >= 0) {
      interaction.price = event.price;
    } else if (const CatalogEntry* entry = item ? catalog_->catalog().Entry(*item) : nullptr;
               entry != nullptr && entry->price >= 0) {
      interaction.price = entry->price;
    }
  }
  ledger_.Observe(interaction, user);
}

void Pipeline::Impl::CheckPartition(const ingest::IngestedEvent& e, UserRecord* user) {
  const int32_t previous = user->partition;
  user->partition = e.partition;
  if (previous < 0 || previous == e.partition) return;
  if (users_moved_partition_++ > 0) return;
  log_->warn("user '{}' had events on events partition {}, now on {} (offset {}): keys that are not the user_id, "
             "producers with different partitioners, or partitions added to the topic split users' histories "
             "between instances (streamrec_users_moved_partition_total counts such events)",
             e.event.user, previous, e.partition, e.offset);
}

}  // namespace streamrec::pipeline
