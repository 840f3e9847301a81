// Pipeline::Impl, internal to pipeline/: the pipeline's state and its steps. Split
// over pipeline.cpp (lifecycle, partitions, health), pipeline_batch.cpp (one
// batch: learn, owe and refresh lists) and pipeline_commit.cpp (the commit
// window, the state changelog). See pipeline.h for the contract.
#pragma once

#include <array>
#include <chrono>
#include <deque>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "common/latency_histogram.h"
#include "common/logging.h"
#include "config/config.h"
#include "emitter/emitter.h"
#include "emitter/surfaces.h"
#include "ingest/ingest.h"
#include "kafka/consumer.h"
#include "learner/learner.h"
#include "model/learner_model.h"
#include "pipeline/catalog_sync.h"
#include "pipeline/item_exchange.h"
#include "pipeline/list_refresher.h"
#include "pipeline/live_quality.h"
#include "pipeline/pipeline.h"
#include "pipeline/state_handoff.h"
#include "server/status_server.h"
#include "store/commit_writer.h"
#include "store/store.h"
#include "store/user_cache.h"

namespace streamrec::pipeline {

class Pipeline::Impl : public kafka::PositionProvider {
 public:
  Impl(config::Config config, server::HealthBoard* health, server::UserLookups* lookups)
      : config_(std::move(config)),
        health_(health),
        lookups_(lookups),
        learner_(config_.learner),
        quality_(&learner_, config_.emitter.top_n,
                 {config_.pipeline.quality_sample, config_.pipeline.quality_max_per_s}, config_.emitter.Precision()),
        refresher_(config_.emitter) {}

  [[nodiscard]] Status Start();
  [[nodiscard]] Status Run(const std::atomic<bool>& stop);
  [[nodiscard]] Status Stop();

  // PositionProvider: resume where the stored state ends. Events partitions
  // are held on assignment and taken over outside the rebalance callback
  // (TakeOverHeldPartitions): state another instance wrote for them is
  // adopted first, however long its changelog.
  int64_t ResumeOffset(const kafka::TopicPartition& tp) override;
  bool HoldOnAssign(const kafka::TopicPartition& tp) override { return tp.topic == config_.kafka.events_topic; }

  // Everything consumed so far commits before the partitions go (a failure
  // stops the pipeline: the next owner replays from the last commit).
  void OnRevoked(const std::vector<kafka::TopicPartition>& partitions) override;

  PipelineStats stats() const { return stats_; }
  void SetRulesSource(RulesSource source) { rules_source_ = std::move(source); }
  void CrashAfterItemRecords(uint64_t records) { crash_after_item_records_ = records; }
  // Starts (or stops, or updates) the experiment, logging what runs.
  void StartExperiment(const experiment::ExperimentOptions& options);
  // Answers the status page's look-ups: each user's list as it would be now.
  [[nodiscard]] Status AnswerLookups();

 private:
  using Clock = std::chrono::steady_clock;

  static constexpr int kFlushTimeoutMs = 10000;
  static constexpr int kMetadataTimeoutMs = 10000;
  static constexpr int kMaxBackoffMs = 5000;
  // Users refreshed per batch because their list holds an item that became
  // unavailable: a popular item going out of stock is worked off over a few
  // batches instead of stalling one.
  static constexpr size_t kMaxStaleRefreshPerBatch = 2048;
  // The item lists' (surfaces') time while no events wait.
  static constexpr std::chrono::milliseconds kRefreshSlice{1000};
  // Bounds of list_credit_: a long stretch of one kind of work is not saved
  // up (or owed) for long after it.
  static constexpr std::chrono::milliseconds kMaxListCredit{100};
  static constexpr std::chrono::milliseconds kMaxListDebt{1000};
  // Events learned between two looks at the emitter's scoring thread (~2 ms):
  // its finished lists go out and it gets the next users without waiting
  // for the batch's end.
  static constexpr size_t kEventsPerListCheck = 256;
  // Users looked up ahead of their turn (UserCache/ListRefresher::Prefetch):
  // about the misses one event's work hides.
  static constexpr size_t kPrefetchAhead = 8;
  // How long a poll waits for events while lists are being scored: the
  // scored lists are published this soon after they are ready.
  static constexpr int kPollWhileScoringMs = 2;
  // Item lists (surfaces) get one chunk this often while users are owed lists,
  // and while events flow: ~640 items a second. Small chunks often rather
  // than 64 items every 100 ms: at 100k items a chunk of 64 stopped this
  // thread for 10-35 ms, a list's latency spike; 16 take a quarter of that.
  static constexpr std::chrono::milliseconds kItemChunkEveryWhileOwed{250};
  static constexpr std::chrono::milliseconds kItemChunkEveryWhileFlowing{25};
  // And at least this many times the last chunk's cost: item lists take at
  // most ~2 % of this thread while users are owed lists, ~5 % while events
  // flow. At 100k items they took ~40 % of it at 10k events/s (a chunk
  // every 25 ms), the users' lists waiting behind them.
  static constexpr int kItemChunkPauseWhileOwed = 50;
  static constexpr int kItemChunkPauseWhileFlowing = 20;
  // Sealed items and users a commit copies between two batches (~1-2 ms of
  // items, ~4 ms of users at dim 64: a user's record is five allocations).
  static constexpr size_t kSealedItemsPerSlice = 4096;
  static constexpr size_t kSealedUsersPerSlice = 4096;
  // Chunks per pass while idle (then the pipeline polls for events again).
  static constexpr size_t kItemChunksWhileIdle = 4;
  // Events count as flowing this long after the last poll that brought some.
  static constexpr std::chrono::milliseconds kEventsFlowingFor{1000};

  // Applies one batch and refreshes due lists; the state commits when the
  // commit window is due (see CommitWindow).
  [[nodiscard]] Status ProcessBatch(const std::atomic<bool>& stop);

  void OpenWindow(Clock::time_point now);

  // Whether the open window should commit now: its interval passed, or its
  // dirty users fill half the cache (only clean users can be evicted).
  bool WindowDue() const;

  // Makes the window's work durable: the last window's commit finished, this
  // one's lists and dead letters delivered, then users, items, catalog,
  // reverse index, owed lists, counters and offsets in one WriteBatch. Each
  // key changed in the window is written once. The changed users and items
  // are sealed and copied between the next batches (ContinueSealing; under a
  // backlog the users are encoded at the stop instead and the items copied at
  // once), their changelog is written and delivered, then the WriteBatch is
  // encoded and written on the commit writer's thread while the next window's
  // events are learned; the next CommitWindow (or FinishWrite) waits for it.
  [[nodiscard]] Status CommitWindow(const std::atomic<bool>& stop);

  // The sealed commit taken a step further (ContinueSealing), then the write
  // in flight, if any, once done (with `block`: the sealing finished and the
  // write waited for): retried here until it succeeds, then its offsets and
  // counters count as durable and its users may be evicted.
  [[nodiscard]] Status FinishWrite(const std::atomic<bool>& stop, bool block);
  // Copies the next slice of the sealed commit's items and users (all of
  // them with `all`); once all are copied, writes their changelog; once that
  // is delivered (with `all`, waiting for it), submits the commit to the writer.
  [[nodiscard]] Status ContinueSealing(bool all);

  // CommitWindow, then FinishWrite: everything so far is durable (before the
  // partitions change hands, before the reverse index is read, on stop).
  [[nodiscard]] Status CommitAndWait(const std::atomic<bool>& stop);

  static double Ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

  ItemNames Names() {
    return {[this](ItemId id) -> const std::string& { return learner_.ItemExternalId(id); },
            [this](std::string_view external_id) { return learner_.InternItem(external_id); }};
  }

  // What the sealed commit's changelog needs from its window: the users'
  // partitions (their records too when they are not copied), the markers' offsets.
  void SealChangelog();
  // Queues the sealed commit's users (changed_) and offsets markers for the
  // state changelog.
  [[nodiscard]] Status WriteChangelog();
  // The changelog's positions, once delivered, go with the sealed commit.
  void AppendChangelogPositions();

  // The topics keep config::CheckTopics' contract (the state changelog has
  // somewhere for every partition's users, the compacted topics are compacted):
  // a clear InvalidArgument instead of deliveries retried forever or state lost
  // to retention; warnings are logged. The embedded broker has no configs to read.
  [[nodiscard]] Status CheckTopics(bool embedded);
  // Whether the broker is the embedded one (librdkafka's mock cluster), whose
  // consumers need a short fetch wait; false when it does not answer (it may
  // be starting). Unauthenticated when it refuses our credentials or TLS.
  [[nodiscard]] Status ProbeCluster(bool* embedded);
  // For each held events partition: everything so far committed, the state
  // another instance wrote for it adopted (the group served between slices
  // of its changelog, other partitions paused meanwhile), its owed lists
  // restored, then released at the offset its state ends.
  [[nodiscard]] Status TakeOverHeldPartitions(const std::atomic<bool>& stop);
  // Consumer::Serve, then a failure of a revocation it ran, if any.
  [[nodiscard]] Status ServeGroup();
  // Whether this instance consumes events partition `partition` now (owned and released).
  bool Consuming(int32_t partition) const { return ingest_->Owns(partition) && !ingest_->Holds(partition); }
  // Applies the other instances' item updates read so far (pipeline.share_items).
  [[nodiscard]] Status ApplyItemUpdates();
  // Before held `partition` resumes: the other instances' item updates of it, all applied and committed.
  [[nodiscard]] Status CatchUpItemUpdates(int32_t partition, const std::atomic<bool>& stop);
  // Item updates applied between two looks: bounds this thread's time on them.
  static constexpr size_t kItemRecordsPerPoll = 4;
  // Adopts the changelog of `partition` past this instance's position, in
  // chunks, each committed; then the positions, once all is read. *complete:
  // false when the restore was stopped part-way (the partition revoked, or
  // stopping): its state is not this instance's yet, whatever the group does next.
  [[nodiscard]] Status AdoptChangelog(int32_t partition, bool* complete);
  [[nodiscard]] Status CommitAdoptedUsers(int32_t partition, std::vector<RestoredUser>* users);

  [[nodiscard]] Status RestoreOwedLists(int32_t partition);

  // Owes a list to the users whose list holds an item that is no longer
  // available; their reverse-index entry for it goes.
  [[nodiscard]] Status OweStaleHolders(int64_t now_ms);

  // Polls the next batch. Each event owes at most one list: the batch never
  // holds more events than the pending set has room for.
  [[nodiscard]] Status NextBatch();
  // After a batch that took since `started`: the users' lists' credit.
  void UpdateListCredit(Clock::time_point started);

  // Owed users' lists, scored on the emitter's thread while this one learns:
  // publishes the oldest job's lists once they are scored (with `wait`,
  // waiting for them), then, while fewer than two jobs are begun, begins the
  // next due users (score_batch at a time): one job is scored while the
  // next one's queries are built and the one before is published.
  [[nodiscard]] Status ServiceLists(bool wait);
  // Publishes the lists being scored, waiting for them: before a commit, which
  // holds what publishing changed (the users' seq and lists, the owed set).
  [[nodiscard]] Status FinishLists();
  // Finishes the oldest begun job (the next one, if begun, is then scored).
  [[nodiscard]] Status FinishOldestLists();
  // The item lists' time budget for this batch: while events wait in Kafka,
  // `emitter.refresh_share` of the time the events took; otherwise a slice.
  void SetItemListDeadline(Clock::time_point started);

  // Item surfaces: items touched or withdrawn since the last call become due;
  // each item's by the member consuming its shard, trending by partition 0's
  // (see emitter/surfaces.h), a chunk now and then while events flow (see kItemChunkEveryWhileFlowing).
  [[nodiscard]] Status PublishSurfaces(bool events_flowing);
  // Asks the broker how many partitions `events` has (events_partitions_):
  // at a partition past the count known (the topic grew, or the start's
  // check had no answer). Logged, and the count kept, when it cannot.
  void CountEventPartitions();

  // Applies new list rules from the configuration, if they changed.
  void PollRules();

  [[nodiscard]] Status Apply(const ingest::IngestedEvent& e, int64_t now_ms);
  // Counts (and logs once) a known user's event on another partition than
  // their previous one; records the event's partition in the user's record.
  void CheckPartition(const ingest::IngestedEvent& e, UserRecord* user);
  // Counts the event for the list the user was last served in the running experiment.
  void Attribute(const Event& event, std::optional<ItemId> item, UserRecord* user);

  // The window's state, all but the positions, users and items (views into
  // the refresher, valid until the window closes).
  void CollectState(store::CommitBatch* out);
  // Gives the learner the blend weights stored with the counters (after the items are loaded).
  void RestoreBlend();
  // Adds the positions (offsets, changelog positions), seals the window's users
  // and items, and hands the commit of `users` users to the writer once they are copied.
  [[nodiscard]] Status SubmitCommit(std::unique_ptr<store::PreparedCommit> prepared, size_t users);

  // Retries a retryable failure with capped exponential backoff until it
  // succeeds or `stop` is set. Consumption waits meanwhile: nothing moves
  // past state that is not durable.
  template <class Fn>
  Status RetryUntilOk(const std::atomic<bool>& stop, const char* what, Fn fn) {
    int backoff_ms = 100;
    for (bool failed = false;; failed = true) {
      Status s = fn();
      if (s.ok() && failed) recovered_at_ = Clock::now();
      if (s.ok()) return s;
      if (!s.retryable() || stop.load()) return s.WithContext(what);
      log_->error("{} failed, retrying in {} ms: {}", what, backoff_ms, s.ToString());
      ReportProblem(std::string(what) + ": " + s.ToString());
      std::this_thread::sleep_for(std::chrono::milliseconds(backoff_ms));
      backoff_ms = std::min(backoff_ms * 2, kMaxBackoffMs);
    }
  }

  void ReportProblem(std::string problem);

  void PublishHealth();

  void LogStatus(Clock::duration elapsed);

  config::Config config_;
  server::HealthBoard* health_;
  server::UserLookups* lookups_;  // null: no look-ups (AnswerLookups)
  int64_t last_commit_ms_ = 0;
  // Wall clock, ms: when the open window's first change came; when the
  // window being sealed or written (0: none) opened. /health's stall check.
  int64_t window_opened_ms_ = 0;
  int64_t committing_since_ms_ = 0;
  bool table_full_logged_ = false;  // the item table's first replacement or refusal was logged
  uint64_t users_moved_partition_ = 0;  // this run (CheckPartition)
  uint64_t user_only_events_ = 0;  // this run: learned for their users alone (ItemExchange::ScopeOf)
  int64_t memory_measured_ms_ = 0;  // when store_memory_bytes_ was measured (once a second)
  uint64_t store_memory_bytes_ = 0;
  learner::Learner learner_;
  LiveQuality quality_;
  // The running experiment's variants and this process's attribution counts
  // (the emitter records lists served in it, Apply attributes events).
  experiment::Ledger ledger_;
  std::unique_ptr<store::Store> store_;
  std::unique_ptr<store::UserCache> cache_;
  std::unique_ptr<store::CommitWriter> writer_;
  std::unique_ptr<store::PreparedCommit> spare_commit_;  // the last write's buffer, reused
  // What the spare keeps for reuse (a normal window's items: ~30 MB at 10k
  // items a second); a larger window's storage is let go.
  static constexpr size_t kKeptCommitBytes = size_t{96} << 20;
  std::vector<ItemRecord> dirty_items_;  // changed items, copied into records a commit handed back
  std::vector<SessionRecord> dirty_sessions_;  // the same for the learner's sessions
  std::vector<store::UserCopy> user_copies_;  // the same for users
  // The last window's commit while its sealed items and users are copied
  // (then it is submitted to the writer); what copying them took so far.
  std::unique_ptr<store::PreparedCommit> sealing_;
  Clock::duration sealing_took_{};
  bool copying_users_ = false;      // the sealed commit's users are copied (else encoded at its stop)
  bool changelog_written_ = false;  // the sealed commit's changelog is queued
  size_t sealed_items_ = 0;
  // The sealed commit's changelog: per user copied (as touched) its events
  // partition; per partition the window's first and next offsets.
  std::vector<int32_t> changelog_partitions_;
  std::map<int32_t, int64_t> changelog_from_;
  std::map<int32_t, int64_t> changelog_next_;
  // What the write in flight makes true once it is done.
  struct InFlight {
    store::StoreCounters counters;
    std::map<int32_t, int64_t> positions;  // events partition -> next offset
    uint64_t cache_batch = 0;              // the user cache's batch it wrote
    size_t users = 0;
    size_t bytes = 0;
  } in_flight_;
  std::unique_ptr<emitter::Emitter> emitter_;
  std::unique_ptr<ingest::Ingest> ingest_;
  std::unique_ptr<StateHandoff> handoff_;  // null when pipeline.state_handoff is off
  std::unique_ptr<ItemExchange> exchange_;  // null when pipeline.share_items is off
  std::unique_ptr<CatalogSync> catalog_;
  std::unique_ptr<emitter::SurfaceEmitter> surfaces_;
  std::vector<ItemId> touched_items_;  // by this batch's events: the surfaces and the approximate index follow them
  std::vector<ItemId> withdrawn_;
  std::vector<learner::Learner::ReplacedItem> replaced_items_;  // scratch of PublishSurfaces
  model::LearnerModel model_{&learner_};
  ListRefresher refresher_;
  bool events_waiting_ = false;      // the last poll filled its batch: more events wait in Kafka
  Clock::time_point list_deadline_ = Clock::time_point::max();  // this batch's item-list budget ends
  std::vector<emitter::ListRequest> list_requests_;  // the lists being scored
  Clock::duration list_time_{};                      // this thread's time on lists in this batch
  // Under a backlog, this thread's time still allowed for starting users'
  // lists (emitter.list_share of its time on events); negative: overspent.
  Clock::duration list_credit_{};
  // Per job begun and not finished, oldest first: its lists, when it began,
  // and per list the broker timestamp of the oldest event it shows (-1: none).
  struct ListJob {
    size_t lists = 0;
    Clock::time_point began;
    std::vector<int64_t> event_ms;
  };
  std::deque<ListJob> lists_in_flight_;
  // Where an event's time goes on its way to a list (server::ListStage), this run.
  std::array<LatencyHistogram, server::kListStages> list_stages_;
  LatencyHistogram commit_seal_;   // per commit: ContinueSealing's time on this thread
  LatencyHistogram commit_write_;  // per commit: the writer's WriteBatch
  std::vector<std::pair<int32_t, int64_t>> consumer_lag_;  // measured with the memory, once a second
  std::array<LatencyHistogram, server::kListStages> list_stages_at_status_;  // as of the last status line
  void RecordTaken(int64_t now_ms, ListJob* job);
  void LogLatency();
  void RecordFinished(const ListJob& job, Clock::time_point finished);
  Clock::time_point last_consumed_{};    // the last poll that brought events
  // The events topic's partitions: the item surfaces' shards (0: not known yet).
  int32_t events_partitions_ = 0;
  Clock::time_point last_item_chunk_{};  // the last item lists published while users were owed lists
  Clock::duration item_chunk_took_{};    // what the last chunk of item lists cost this thread
  Clock::time_point recovered_at_{};  // when a retried commit or delivery last succeeded
  Clock::duration commit_cost_per_event_{};  // the last commit's time on this thread, per event it covered
  RulesSource rules_source_;
  uint64_t crash_after_item_records_ = 0;  // Pipeline::CrashAfterItemRecords
  std::vector<store::CatalogRecord> catalog_records_;
  std::vector<ListHolderChange> holder_changes_;
  std::vector<StaleHolder> taken_holders_;  // this batch's
  std::deque<StaleHolder> stale_holders_;   // this window's (stable: holder_changes_ view their ids)
  std::map<int32_t, int64_t> markers_;  // per events partition: the offset its changelog marker and commit carry
  std::vector<ChangedUser> changed_;  // the sealed commit's users, for its changelog
  Status assignment_error_;
  std::atomic<bool> never_stop_{false};
  const std::atomic<bool>* stop_ = &never_stop_;
  store::StoreCounters counters_;
  store::StoreCounters durable_;  // as of the last commit written
  store::Offsets offsets_;        // as of the last commit prepared (written or in flight)
  ingest::IngestBatch batch_;
  // Per user changed in the commit window: the latest event (or owed list) and the batch it came in.
  struct Source {
    int32_t partition = 0;
    int64_t offset = -1;
    uint64_t batch = 0;
    int64_t first_event_ms = -1;  // broker timestamp of the user's first event in that batch
  };
  std::vector<Source> sources_;  // per user the window touched, by CachedUser::touched_index
  // The window's record of `user`; a default one (batch 0) when first touched.
  Source& SourceOf(const store::CachedUser& user) {
    if (user.touched_index >= sources_.size()) sources_.resize(user.touched_index + 1);
    return sources_[user.touched_index];
  }
  std::vector<store::CachedUser> batch_users_;  // first touched by this batch's events
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

}  // namespace streamrec::pipeline
