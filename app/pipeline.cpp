#include "app/pipeline.h"

#include "app/catalog_sync.h"
#include "app/learner_model.h"
#include "app/list_refresher.h"
#include "app/live_quality.h"
#include "app/state_handoff.h"

#include <chrono>
#include <map>
#include <thread>
#include <unordered_map>

#include "common/clock.h"
#include "common/hash.h"
#include "common/logging.h"
#include "emitter/emitter.h"
#include "emitter/surfaces.h"
#include "ingest/ingest.h"
#include "kafka/consumer.h"
#include "learner/learner.h"
#include "store/store.h"
#include "store/user_cache.h"

namespace streamrec::app {
namespace {

using Clock = std::chrono::steady_clock;

constexpr int kFlushTimeoutMs = 10000;
constexpr int kMaxBackoffMs = 5000;
// Users refreshed per batch because their list holds an item that became
// unavailable: a popular item going out of stock is worked off over a few
// batches instead of stalling one.
constexpr size_t kMaxStaleRefreshPerBatch = 2048;
// Longest stretch of list refreshes while no events wait (or the pending set
// is full) before the consumer is polled again: long enough that a caught-up
// consumer's batch gets all its lists, short against max.poll.interval.ms.
constexpr auto kRefreshSlice = std::chrono::milliseconds(1000);

kafka::Properties ClientProperties(const KafkaConfig& k, const kafka::Properties& specific) {
  kafka::Properties base = {{"bootstrap.servers", k.bootstrap}, {"client.id", "streamrec"}};
  return kafka::Merge(kafka::Merge(base, k.properties), specific);
}

}  // namespace

class Pipeline::Impl : public kafka::PositionProvider {
 public:
  Impl(Config config, HealthBoard* health)
      : config_(std::move(config)),
        health_(health),
        learner_(config_.learner),
        quality_(&learner_, config_.emitter.top_n, config_.pipeline.quality_sample, config_.emitter.Precision()),
        refresher_(config_.emitter) {}

  Status Start() {
    STREAMREC_RETURN_IF_ERROR(store::Store::Open(config_.store, &store_));
    STREAMREC_RETURN_IF_ERROR(store_->CheckDimension(config_.learner.dim));
    STREAMREC_RETURN_IF_ERROR(store_->ReadCounters(&counters_));
    durable_ = counters_;
    STREAMREC_RETURN_IF_ERROR(store_->ReadOffsets(&offsets_));
    size_t items = 0;
    STREAMREC_RETURN_IF_ERROR(store_->LoadItems([&](const ItemRecord& r) {
      learner_.RestoreItem(r);
      ++items;
    }));
    catalog_ = std::make_unique<CatalogSync>(&learner_, store_.get());
    STREAMREC_RETURN_IF_ERROR(catalog_->Load(NowMillis()));
    cache_ = std::make_unique<store::UserCache>(store_.get(), config_.pipeline.user_cache_capacity);
    log_->info("store {}: {} applied events, {} items, {} users, {} stored offsets", config_.store.path,
               counters_.applied_events, items, counters_.next_user_id, offsets_.size());

    emitter::EmitterOptions eopts = config_.emitter;
    eopts.topic = config_.kafka.recommendations_topic;
    eopts.producer_properties = ClientProperties(config_.kafka, kafka::Merge({{"linger.ms", "5"},
                                                                              {"partitioner", "murmur2_random"}},
                                                                             config_.kafka.producer_properties));
    emitter_ = std::make_unique<emitter::Emitter>(eopts);
    STREAMREC_RETURN_IF_ERROR(emitter_->Start());
    emitter::SurfaceOptions sopts = config_.surfaces;
    sopts.similar_items_topic = config_.kafka.similar_items_topic;
    sopts.bought_together_topic = config_.kafka.bought_together_topic;
    sopts.trending_topic = config_.kafka.trending_topic;
    sopts.model_version = config_.emitter.model_version;
    sopts.half_life_ms = config_.learner.recency_half_life_ms;
    sopts.producer_properties = eopts.producer_properties;
    surfaces_ = std::make_unique<emitter::SurfaceEmitter>(sopts);
    STREAMREC_RETURN_IF_ERROR(surfaces_->Start());

    ingest::IngestOptions iopts;
    // A 10 s session (Kafka's pre-3.0 default) lets a replacement member take
    // over a crashed one's partitions quickly; override in consumer_properties.
    std::string instance_id;
    STREAMREC_RETURN_IF_ERROR(store_->InstanceId(&instance_id));
    kafka::Properties group = {{"group.id", config_.kafka.group_id},
                               {"session.timeout.ms", "10000"},
                               // A stored offset the broker no longer has (retention ran past it):
                               // resume at the oldest event still there, never silently at the end.
                               {"auto.offset.reset", "earliest"}};
    if (config_.kafka.static_membership) group.push_back({"group.instance.id", "streamrec-" + instance_id});
    iopts.consumer_properties = ClientProperties(config_.kafka, kafka::Merge(group, config_.kafka.consumer_properties));
    iopts.producer_properties = eopts.producer_properties;
    if (config_.pipeline.state_handoff) {
      StateHandoffOptions hopts;
      hopts.state_topic = config_.kafka.StateTopic();
      hopts.producer_properties = eopts.producer_properties;
      hopts.reader_properties = ClientProperties(config_.kafka, config_.kafka.consumer_properties);
      hopts.writer_id = instance_id;
      handoff_ = std::make_unique<StateHandoff>(hopts);
      STREAMREC_RETURN_IF_ERROR(handoff_->Start());
      log_->info("state changelog {} (instance {})", hopts.state_topic, hopts.writer_id);
    }
    iopts.events_topic = config_.kafka.events_topic;
    iopts.dead_letter_topic = config_.kafka.dead_letter_topic;
    iopts.catalog_topic = config_.kafka.catalog_topic;
    iopts.catalog_properties = ClientProperties(config_.kafka, config_.kafka.consumer_properties);
    iopts.limits = config_.decoder;
    iopts.max_batch_events = config_.pipeline.batch_max_events;
    iopts.max_batch_wait_ms = config_.pipeline.batch_max_wait_ms;
    ingest_ = std::make_unique<ingest::Ingest>(iopts, this);
    return ingest_->Start();
  }

  Status Run(const std::atomic<bool>& stop) {
    stop_ = &stop;
    Clock::time_point last_message = Clock::now();
    Clock::time_point last_status = Clock::now();
    while (!stop.load()) {
      STREAMREC_RETURN_IF_ERROR(NextBatch());
      STREAMREC_RETURN_IF_ERROR(assignment_error_);  // a partition's state could not be restored
      PollRules();
      const auto now = Clock::now();
      const bool consumed = batch_.consumed > 0 || !batch_.catalog_next_offsets.empty();
      if (consumed || ingest_->assigned_partitions() == 0) {
        // Idle time counts only while partitions are assigned (joining a group takes a while).
        last_message = now;
      }
      catalog_->Advance(NowMillis());
      if (consumed || catalog_->has_stale() || refresher_.HasDue(NowMillis())) {
        STREAMREC_RETURN_IF_ERROR(ProcessBatch(stop));
      }
      STREAMREC_RETURN_IF_ERROR(PublishSurfaces());
      if (WindowDue()) STREAMREC_RETURN_IF_ERROR(CommitWindow(stop));
      if (!consumed && refresher_.pending() == 0 && config_.pipeline.exit_when_idle_ms > 0 &&
                 now - last_message > std::chrono::milliseconds(config_.pipeline.exit_when_idle_ms)) {
        log_->info("idle for {} ms: stopping", config_.pipeline.exit_when_idle_ms);
        break;
      }
      PublishHealth();
      if (config_.pipeline.status_interval_s > 0 &&
          now - last_status > std::chrono::seconds(config_.pipeline.status_interval_s)) {
        LogStatus(now - last_status);
        last_status = now;
      }
    }
    return CommitWindow(stop);
  }

  Status Stop() {
    Status result;
    if (ingest_) result = ingest_->Stop();
    if (handoff_) {
      Status s = handoff_->Stop();
      if (result.ok()) result = s;
    }
    if (surfaces_) {
      Status s = surfaces_->Stop();
      if (result.ok()) result = s;
    }
    if (emitter_) {
      Status s = emitter_->Stop();
      if (result.ok()) result = s;
    }
    cache_.reset();
    store_.reset();
    log_->info("stopped: {} events applied in total, {} rejected, {} lists published this run",
               counters_.applied_events, counters_.rejected_events, stats_.lists);
    if (quality_.figures().scored > 0) {
      log_->info("live quality this run: {}", quality_.figures().Summary(config_.emitter.top_n));
    }
    return result;
  }

  // PositionProvider: resume where the stored state ends (after adopting
  // state another instance wrote for this partition, if any).
  int64_t ResumeOffset(const kafka::TopicPartition& tp) override {
    if (tp.topic == config_.kafka.catalog_topic) {
      auto it = offsets_.find({tp.topic, tp.partition});
      return it != offsets_.end() ? it->second : kafka::kOffsetBeginning;
    }
    if (assignment_error_.ok()) assignment_error_ = CommitWindow(*stop_);  // adoption needs a clean cache
    if (handoff_ && assignment_error_.ok()) assignment_error_ = AdoptChangelog(tp.partition);
    if (assignment_error_.ok()) assignment_error_ = RestoreOwedLists(tp.partition);
    auto it = offsets_.find({tp.topic, tp.partition});
    if (it != offsets_.end()) return it->second;
    return config_.kafka.start_from == "latest" ? kafka::kOffsetEnd : kafka::kOffsetBeginning;
  }

  // Everything consumed so far commits before the partitions go (a failure
  // stops the pipeline: the next owner replays from the last commit).
  void OnRevoked(const std::vector<kafka::TopicPartition>& partitions) override {
    if (assignment_error_.ok()) assignment_error_ = CommitWindow(*stop_);
    for (const kafka::TopicPartition& tp : partitions) refresher_.Drop(tp.partition);
    log_->info("{} partitions revoked; state for them is committed", partitions.size());
  }

  PipelineStats stats() const { return stats_; }

  void SetRulesSource(RulesSource source) { rules_source_ = std::move(source); }

 private:
  // Applies one batch and refreshes due lists; the state commits when the
  // commit window is due (see CommitWindow).
  Status ProcessBatch(const std::atomic<bool>& stop) {
    const Clock::time_point started = Clock::now();
    if (!window_open_) OpenWindow(started);
    const int64_t now_ms = NowMillis();
    catalog_->Apply(batch_.catalog, now_ms, &catalog_records_);
    for (const auto& [partition, next] : batch_.catalog_next_offsets) window_catalog_offsets_[partition] = next;
    // The store's reverse index must hold every published list before it is
    // asked which lists hold an item that just became unavailable.
    if (catalog_->has_stale() && !holder_changes_.empty()) STREAMREC_RETURN_IF_ERROR(CommitWindow(stop));
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
    const size_t lists_before = refresher_.lists_this_batch();
    STREAMREC_RETURN_IF_ERROR(RefreshLists(started));
    const size_t lists = refresher_.lists_this_batch() - lists_before;
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

  void OpenWindow(Clock::time_point now) {
    window_open_ = true;
    window_started_ = now;
    last_source_.clear();
    catalog_records_.clear();
    holder_changes_.clear();
    window_offsets_.clear();
    window_catalog_offsets_.clear();
    window_events_ = 0;
  }

  // Whether the open window should commit now: its interval passed, or its
  // dirty users fill half the cache (only clean users can be evicted).
  bool WindowDue() const {
    if (!window_open_) return false;
    const auto interval = std::chrono::milliseconds(config_.pipeline.commit_interval_ms);
    return Clock::now() - window_started_ >= interval ||
           cache_->touched().size() * 2 >= config_.pipeline.user_cache_capacity;
  }

  // Makes the window's work durable: lists, dead letters and the changelog
  // delivered (all in flight at once), then users, items, catalog, reverse
  // index, owed lists, counters and offsets in one WriteBatch. Each key
  // changed in the window is written once.
  Status CommitWindow(const std::atomic<bool>& stop) {
    if (!window_open_) return Status::Ok();
    const Clock::time_point started = Clock::now();
    markers_ = window_offsets_;
    for (const store::CachedUser& u : cache_->touched()) {
      // A partition whose users were refreshed without new events gets a
      // changelog marker at its current position.
      const int32_t partition = last_source_[u.record].partition;
      auto stored = offsets_.find({config_.kafka.events_topic, partition});
      if (!markers_.contains(partition) && stored != offsets_.end()) markers_[partition] = stored->second;
    }
    if (handoff_) STREAMREC_RETURN_IF_ERROR(WriteChangelog());
    STREAMREC_RETURN_IF_ERROR(RetryUntilOk(stop, "delivering lists, dead letters and the state changelog", [&] {
      STREAMREC_RETURN_IF_ERROR(ingest_->FlushDeadLetters(kFlushTimeoutMs));
      if (Status s = emitter_->Flush(kFlushTimeoutMs); !s.ok()) {
        refresher_.OweAgain(NowMillis());  // the failed lists are owed again, with the state
        return s;
      }
      if (!handoff_) return Status::Ok();
      Status s = handoff_->Flush();
      // A failed delivery is gone: write the window's changelog again (latest-value records, harmless twice).
      if (!s.ok()) STREAMREC_RETURN_IF_ERROR(WriteChangelog());
      return s;
    }));
    const Clock::time_point delivered = Clock::now();
    STREAMREC_RETURN_IF_ERROR(Commit(stop));
    if (log_->should_log(spdlog::level::debug)) {
      log_->debug("commit of {} users, {} lists: deliver {:.1f} ms, write {:.1f} ms", cache_->touched().size(),
                  refresher_.lists_this_batch(), Ms(delivered - started), Ms(Clock::now() - delivered));
    }
    // The commit's cost, spread over the events it made durable, is part of
    // what each event costs (the list budget follows it).
    commit_cost_per_event_ = (Clock::now() - started) / std::max<uint64_t>(1, window_events_);
    cache_->EndBatch();
    refresher_.EndBatch();
    ingest_->ReportPositions(window_offsets_);
    window_open_ = false;
    return Status::Ok();
  }

  static double Ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

  ItemNames Names() {
    return {[this](ItemId id) -> const std::string& { return learner_.ItemExternalId(id); },
            [this](std::string_view external_id) { return learner_.InternItem(external_id); }};
  }

  // Queues the batch's users and offsets markers for the state changelog.
  Status WriteChangelog() {
    changed_.clear();
    for (const store::CachedUser& u : cache_->touched()) {
      changed_.push_back({u.external_id, u.record, last_source_[u.record].partition});
    }
    std::map<int32_t, int64_t> from;
    for (const auto& [partition, next] : markers_) {
      auto it = offsets_.find({config_.kafka.events_topic, partition});
      if (it != offsets_.end()) from[partition] = it->second;
    }
    return handoff_->Write(changed_, from, markers_, Names());
  }

  Status AdoptChangelog(int32_t partition) {
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
    cache_->Clear();  // cached users are clean between batches; adopted ones must be re-read
    return Status::Ok();
  }

  Status RestoreOwedLists(int32_t partition) {
    size_t restored = 0;
    STREAMREC_RETURN_IF_ERROR(refresher_.Restore(store_.get(), partition, NowMillis(), &restored));
    if (restored > 0) log_->info("events/{}: {} users owed a list since before the restart", partition, restored);
    return Status::Ok();
  }

  // Owes a list to the users whose list holds an item that is no longer
  // available; their reverse-index entry for it goes.
  Status OweStaleHolders(int64_t now_ms) {
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

  // Polls the next batch. Each event owes at most one list: the batch never
  // holds more events than the pending set has room for.
  Status NextBatch() {
    const size_t max_events = std::min(config_.pipeline.batch_max_events, refresher_.room());
    const int wait_ms = refresher_.HasDue(NowMillis()) ? 0 : config_.pipeline.batch_max_wait_ms;
    STREAMREC_RETURN_IF_ERROR(ingest_->NextBatch(&batch_, max_events, wait_ms));
    events_waiting_ = max_events == 0 || batch_.consumed >= max_events;
    return Status::Ok();
  }

  // Lists of due users until the deadline: while events wait in Kafka,
  // `emitter.refresh_share` of the time the events took; otherwise (or with
  // the pending set nearly full) a slice, after which the consumer is polled.
  Status RefreshLists(Clock::time_point started) {
    const Clock::time_point now = Clock::now();
    Clock::time_point deadline = now + kRefreshSlice;
    if (events_waiting_ && refresher_.room() >= config_.pipeline.batch_max_events) {
      const auto events_took =
          std::chrono::duration<double>((now - started) + commit_cost_per_event_ * batch_.consumed);
      deadline = now + std::chrono::duration_cast<Clock::duration>(events_took * config_.emitter.refresh_share);
    }
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

  // Item surfaces: items touched or withdrawn since the last call become due;
  // the owner of events partition 0 publishes (see emitter/surfaces.h).
  Status PublishSurfaces() {
    const int64_t now = NowMillis();
    surfaces_->Touch(touched_items_, now);
    touched_items_.clear();
    catalog_->TakeWithdrawn(&withdrawn_);
    for (ItemId item : withdrawn_) surfaces_->Withdraw(item, now);
    const Clock::time_point started = Clock::now();
    const uint64_t before = surfaces_->item_lists_published();
    STREAMREC_RETURN_IF_ERROR(surfaces_->Publish(model_, &catalog_->catalog(), now, ingest_->Owns(0)));
    if (surfaces_->item_lists_published() > before && log_->should_log(spdlog::level::debug)) {
      log_->debug("surfaces: {} item lists in {:.1f} ms", surfaces_->item_lists_published() - before,
                  std::chrono::duration<double, std::milli>(Clock::now() - started).count());
    }
    return Status::Ok();
  }

  // Applies new list rules from the configuration, if they changed.
  void PollRules() {
    if (!rules_source_) return;
    std::optional<emitter::ListRules> rules = rules_source_();
    if (!rules) return;
    if (Status s = emitter_->SetRules(*rules); !s.ok()) {
      log_->error("new rules refused, keeping the current ones: {}", s.ToString());
      return;
    }
    log_->info("list rules reloaded");
  }

  Status Apply(const ingest::IngestedEvent& e) {
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

  Status Commit(const std::atomic<bool>& stop) {
    store::CommitBatch commit;
    for (const store::CachedUser& u : cache_->touched()) commit.users.push_back({u.external_id, u.record});
    learner_.TakeDirtyItems(&commit.items);
    commit.catalog = catalog_records_;
    commit.holders = holder_changes_;
    commit.pending = refresher_.changes();
    for (const auto& [partition, next] : markers_) {
      commit.offsets[{config_.kafka.events_topic, partition}] = next;
      if (handoff_) commit.offsets[{handoff_->topic(), partition}] = handoff_->Position(partition);
    }
    for (const auto& [partition, next] : window_catalog_offsets_) {
      commit.offsets[{config_.kafka.catalog_topic, partition}] = next;
    }
    commit.counters = counters_;
    STREAMREC_RETURN_IF_ERROR(RetryUntilOk(stop, "committing state", [&] { return store_->Commit(commit); }));
    for (const auto& [key, next] : commit.offsets) offsets_[key] = next;
    durable_ = counters_;
    last_commit_ms_ = NowMillis();
    if (health_) health_->Update([](HealthSnapshot& h) { h.problem.clear(); });
    return Status::Ok();
  }

  // Retries a retryable failure with capped exponential backoff until it
  // succeeds or `stop` is set. Consumption waits meanwhile: nothing moves
  // past state that is not durable.
  template <class Fn>
  Status RetryUntilOk(const std::atomic<bool>& stop, const char* what, Fn fn) {
    int backoff_ms = 100;
    for (;;) {
      Status s = fn();
      if (s.ok()) return s;
      if (!s.retryable() || stop.load()) return s.WithContext(what);
      log_->error("{} failed, retrying in {} ms: {}", what, backoff_ms, s.ToString());
      ReportProblem(std::string(what) + ": " + s.ToString());
      std::this_thread::sleep_for(std::chrono::milliseconds(backoff_ms));
      backoff_ms = std::min(backoff_ms * 2, kMaxBackoffMs);
    }
  }

  void ReportProblem(std::string problem) {
    if (!health_) return;
    health_->Update([&](HealthSnapshot& h) {
      if (h.problem.empty()) h.problem_since_ms = NowMillis();
      h.problem = std::move(problem);
    });
  }

  void PublishHealth() {
    if (!health_) return;
    health_->Update([&](HealthSnapshot& h) {
      h.batches = stats_.batches;
      h.consumed = stats_.consumed;
      h.applied = stats_.applied;
      h.rejected = stats_.rejected;
      h.lists = stats_.lists;
      h.lists_pending = refresher_.pending();
      h.list_lag_ms = refresher_.LagMs(NowMillis());
      h.applied_total = durable_.applied_events;
      h.users_cached = cache_->size();
      h.items = learner_.item_count();
      h.partitions = ingest_->assigned_partitions();
      h.last_commit_ms = last_commit_ms_;
    });
  }

  void LogStatus(Clock::duration elapsed) {
    const double seconds = std::chrono::duration<double>(elapsed).count();
    const uint64_t applied_delta = stats_.applied - status_applied_;
    status_applied_ = stats_.applied;
    log_->info("status: {:.0f} events/s, applied {}, rejected {}, lists {}, users cached {}, items {}",
               static_cast<double>(applied_delta) / seconds, counters_.applied_events, counters_.rejected_events,
               stats_.lists, cache_->size(), learner_.item_count());
    if (quality_.figures().scored > 0) log_->info("live quality: {}", quality_.figures().Summary(config_.emitter.top_n));
  }

  Config config_;
  HealthBoard* health_;
  int64_t last_commit_ms_ = 0;
  learner::Learner learner_;
  LiveQuality quality_;
  std::unique_ptr<store::Store> store_;
  std::unique_ptr<store::UserCache> cache_;
  std::unique_ptr<emitter::Emitter> emitter_;
  std::unique_ptr<ingest::Ingest> ingest_;
  std::unique_ptr<StateHandoff> handoff_;  // null when pipeline.state_handoff is off
  std::unique_ptr<CatalogSync> catalog_;
  std::unique_ptr<emitter::SurfaceEmitter> surfaces_;
  std::vector<ItemId> touched_items_;  // by this batch's events: the surfaces and the approximate index follow them
  std::vector<ItemId> withdrawn_;
  LearnerModel model_{&learner_};
  ListRefresher refresher_;
  bool events_waiting_ = false;      // the last poll filled its batch: more events wait in Kafka
  Clock::duration commit_cost_per_event_{};  // the last commit's delivery and write, per event it covered
  RulesSource rules_source_;
  std::vector<store::CatalogRecord> catalog_records_;
  std::vector<ListHolderChange> holder_changes_;
  std::vector<StaleHolder> stale_holders_;
  std::map<int32_t, int64_t> markers_;  // per events partition: the offset its changelog marker and commit carry
  std::vector<ChangedUser> changed_;
  Status assignment_error_;
  std::atomic<bool> never_stop_{false};
  const std::atomic<bool>* stop_ = &never_stop_;
  store::StoreCounters counters_;
  store::StoreCounters durable_;  // as of the last commit
  store::Offsets offsets_;
  ingest::IngestBatch batch_;
  // Per user changed in the commit window: the latest event (or owed list) and the batch it came in.
  struct Source {
    int32_t partition = 0;
    int64_t offset = -1;
    uint64_t batch = 0;
  };
  std::unordered_map<const UserRecord*, Source> last_source_;
  std::vector<std::pair<std::string_view, UserRecord*>> batch_users_;  // first touched by this batch's events
  uint64_t batch_number_ = 0;
  bool window_open_ = false;  // state changed since the last commit
  Clock::time_point window_started_;
  std::map<int32_t, int64_t> window_offsets_;          // events partition -> next offset, this window
  std::map<int32_t, int64_t> window_catalog_offsets_;  // catalog partition -> next offset, this window
  uint64_t window_events_ = 0;                         // messages consumed in this window
  PipelineStats stats_;
  uint64_t status_applied_ = 0;
  std::shared_ptr<spdlog::logger> log_ = ModuleLogger("pipeline");
};

Pipeline::Pipeline(Config config, HealthBoard* health)
    : impl_(std::make_unique<Impl>(std::move(config), health)) {}
Pipeline::~Pipeline() = default;
Status Pipeline::Start() { return impl_->Start(); }
Status Pipeline::Run(const std::atomic<bool>& stop) { return impl_->Run(stop); }
Status Pipeline::Stop() { return impl_->Stop(); }
PipelineStats Pipeline::stats() const { return impl_->stats(); }
void Pipeline::SetRulesSource(RulesSource source) { impl_->SetRulesSource(std::move(source)); }

}  // namespace streamrec::app
