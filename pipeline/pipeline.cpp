#include "pipeline/pipeline.h"

#include "pipeline/pipeline_impl.h"

#include <algorithm>
#include <chrono>
#include <thread>

#include "common/clock.h"
#include "config/topics.h"
#include "kafka/admin.h"

namespace streamrec::pipeline {
namespace {

// Producer queues, KiB (the memory budget in docs/RELIABILITY.md counts them).
constexpr const char* kProducerQueueKbytes = "65536";
// A window's changelog at full speed (~75k users of ~2 KB) fits.
constexpr const char* kChangelogQueueKbytes = "262144";

// The embedded broker (librdkafka's mock cluster) holds a fetch that finds
// nothing for the whole fetch.wait.max.ms (librdkafka's default: 500 ms),
// where Kafka answers as soon as a record arrives: an event that found the
// consumer waiting waited up to that long. On it, consumers wait at most 5 ms
// (kafka.consumer_properties still wins).
const kafka::Properties kEmbeddedConsumerProperties = {{"fetch.wait.max.ms", "5"}};
// The fetch wait of the topics followed beside the events (the catalog, other
// instances' item updates), whose records may wait that long (see Start).
constexpr const char* kBackgroundFetchWaitMs = "100";

kafka::Properties ClientProperties(const config::KafkaConfig& k, const kafka::Properties& specific) {
  // TCP_NODELAY, as Kafka's own clients and brokers set it: small requests
  // (a few lists, an offset commit) are not held back waiting for an ACK.
  kafka::Properties base = {
      {"bootstrap.servers", k.bootstrap}, {"client.id", "streamrec"}, {"socket.nagle.disable", "true"}};
  return kafka::Merge(kafka::Merge(base, k.properties), specific);
}

}  // namespace

void Pipeline::Impl::RestoreBlend() {
  if (counters_.blend.empty()) return;  // a new store, or one written before the blend existed
  if (Status s = learner_.RestoreBlend(std::span<const float>(counters_.blend)); !s.ok()) {
    log_->warn("{}: the learner starts from its configured weights", s.message());
    return;
  }
  const learner::Learner::BlendWeights w = learner_.blend_weights();
  log_->info("blend weights restored: factorisation {:.3f}; relative to it co-occurrence {:.3f}, recency {:.3f}, "
             "short recency {:.3f}, session neighbours {:.3f}", w.mf, w.cooc, w.recency, w.short_recency, w.session);
}

Status Pipeline::Impl::Start() {
  bool embedded = false;
  STREAMREC_RETURN_IF_ERROR(ProbeCluster(&embedded));
  STREAMREC_RETURN_IF_ERROR(CheckTopics(embedded));
  if (embedded) log_->info("the broker is the embedded one: consumers fetch with fetch.wait.max.ms=5");
  const kafka::Properties consumer_properties =
      kafka::Merge(embedded ? kEmbeddedConsumerProperties : kafka::Properties{}, config_.kafka.consumer_properties);
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
  size_t sessions = 0;
  STREAMREC_RETURN_IF_ERROR(store_->LoadSessions([&](const SessionRecord& r) {
    learner_.RestoreSession(r);
    ++sessions;
  }));
  RestoreBlend();
  catalog_ = std::make_unique<CatalogSync>(&learner_, store_.get());
  STREAMREC_RETURN_IF_ERROR(catalog_->Load(NowMillis()));
  cache_ = std::make_unique<store::UserCache>(store_.get(), config_.pipeline.user_cache_capacity);
  writer_ = std::make_unique<store::CommitWriter>(store_.get());
  writer_->Start();
  log_->info("store {}: {} applied events, {} items, {} users, {} sessions, {} stored offsets", config_.store.path,
             counters_.applied_events, items, counters_.next_user_id, sessions, offsets_.size());

  emitter::EmitterOptions eopts = config_.emitter;
  eopts.topic = config_.kafka.recommendations_topic;
  // A commit window's changelog records (one per changed user, 100k+ at full
  // speed) are produced at once and flushed with the commit: librdkafka's
  // default queue of 100,000 messages made the pipeline wait for deliveries
  // mid-window (~1 s for 133k users). What bounds each producer's memory is
  // queue.buffering.max.kbytes (librdkafka's default, 1 GiB, is not a budget):
  // 64 MiB for lists, surfaces and dead letters, kChangelogQueueKbytes for
  // the changelog; a full queue makes the pipeline wait for deliveries.
  // linger.ms 1: a list waits at most 1 ms for others to share its request
  // (at 10k lists/s still ~10 a request); librdkafka's 5 ms was a third of a
  // list's whole way at low rates (docs/BENCHMARKS.md, latency from outside).
  eopts.producer_properties =
      ClientProperties(config_.kafka, kafka::Merge({{"linger.ms", "1"},
                                                    {"partitioner", "murmur2_random"},
                                                    {"queue.buffering.max.messages", "1000000"},
                                                    {"queue.buffering.max.kbytes", kProducerQueueKbytes}},
                                                   config_.kafka.producer_properties));
  emitter_ = std::make_unique<emitter::Emitter>(eopts);
  STREAMREC_RETURN_IF_ERROR(emitter_->Start());
  StartExperiment(config_.experiment);
  emitter_->SetLedger(&ledger_);
  emitter::SurfaceOptions sopts = config_.surfaces;
  sopts.similar_items_topic = config_.kafka.similar_items_topic;
  sopts.bought_together_topic = config_.kafka.bought_together_topic;
  sopts.trending_topic = config_.kafka.trending_topic;
  sopts.model_version = config_.emitter.model_version;
  sopts.half_life_ms = config_.learner.recency_half_life_ms;
  sopts.precision = config_.emitter.Precision();
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
  iopts.consumer_properties = ClientProperties(config_.kafka, kafka::Merge(group, consumer_properties));
  iopts.producer_properties = eopts.producer_properties;
  // The changelog's and the item updates' producers: a larger queue (a user's own setting still wins).
  const kafka::Properties bulk_producer_properties =
      kafka::Merge(kafka::Merge(eopts.producer_properties, {{"queue.buffering.max.kbytes", kChangelogQueueKbytes}}),
                   config_.kafka.producer_properties);
  if (config_.pipeline.state_handoff) {
    StateHandoffOptions hopts;
    hopts.state_topic = config_.kafka.StateTopic();
    hopts.producer_properties = bulk_producer_properties;
    hopts.reader_properties = ClientProperties(config_.kafka, consumer_properties);
    hopts.writer_id = instance_id;
    handoff_ = std::make_unique<StateHandoff>(hopts);
    STREAMREC_RETURN_IF_ERROR(handoff_->Start());
    log_->info("state changelog {} (instance {})", hopts.state_topic, hopts.writer_id);
  }
  // The catalog and other instances' item updates need not apply within
  // milliseconds: a longer fetch wait than the events' spares the (embedded)
  // broker and this process ~200 empty fetches a second each (a user's own
  // setting still wins).
  const kafka::Properties background_reader_properties = ClientProperties(
      config_.kafka, kafka::Merge(kafka::Merge(consumer_properties, {{"fetch.wait.max.ms", kBackgroundFetchWaitMs}}),
                                  config_.kafka.consumer_properties));
  if (config_.pipeline.share_items) {
    ItemExchangeOptions xopts;
    xopts.topic = config_.kafka.ItemsTopic();
    xopts.producer_properties = bulk_producer_properties;
    xopts.reader_properties = background_reader_properties;
    xopts.writer_id = instance_id;
    exchange_ = std::make_unique<ItemExchange>(xopts, &learner_);
    STREAMREC_RETURN_IF_ERROR(exchange_->Start(offsets_));
  }
  iopts.events_topic = config_.kafka.events_topic;
  iopts.dead_letter_topic = config_.kafka.dead_letter_topic;
  iopts.catalog_topic = config_.kafka.catalog_topic;
  iopts.catalog_properties = background_reader_properties;
  iopts.limits = config_.decoder;
  iopts.max_batch_events = config_.pipeline.batch_max_events;
  iopts.max_batch_wait_ms = config_.pipeline.batch_max_wait_ms;
  iopts.max_batch_linger_ms = config_.pipeline.batch_linger_ms;
  ingest_ = std::make_unique<ingest::Ingest>(iopts, this);
  return ingest_->Start();
}

Status Pipeline::Impl::ProbeCluster(bool* embedded) {
  std::string cluster_id;
  Status s = kafka::ClusterId(ClientProperties(config_.kafka, {}), kMetadataTimeoutMs, &cluster_id);
  if (s.code() == StatusCode::kUnauthenticated) return s;  // waiting will not mend credentials
  if (!s.ok()) {
    log_->warn("could not ask the broker for its cluster id: {}", s.ToString());
    return Status::Ok();
  }
  *embedded = kafka::IsEmbeddedCluster(cluster_id);
  return Status::Ok();
}

Status Pipeline::Impl::CheckTopics(bool embedded) {
  std::vector<std::string> names;
  for (const kafka::TopicSpec& t : config::StandardTopics(config_.kafka)) names.push_back(t.name);
  const kafka::Properties admin = ClientProperties(config_.kafka, {});  // an admin (producer) handle
  std::map<std::string, kafka::TopicInfo> found;
  Status s = kafka::DescribeTopics(admin, names, !embedded, kMetadataTimeoutMs, &found);
  if (!s.ok() && !embedded) {
    // DescribeConfigs may be denied (ACLs) where metadata is not.
    log_->warn("could not read the topics' configs ({}): their cleanup policies are not checked", s.ToString());
    s = kafka::DescribeTopics(admin, names, false, kMetadataTimeoutMs, &found);
  }
  if (!s.ok()) {
    log_->warn("could not check the topics: {}", s.ToString());
    return Status::Ok();  // the broker may still be starting; a missing topic shows later
  }
  if (auto it = found.find(config_.kafka.events_topic); it != found.end()) events_partitions_ = it->second.partitions;
  config::TopicProblems problems =
      config::CheckTopics(config_.kafka, config_.pipeline.state_handoff, config_.pipeline.share_items, found);
  for (const std::string& w : problems.warnings) log_->warn("{}", w);
  if (problems.errors.empty()) return Status::Ok();
  std::string message = "the topics break streamrec's contract (docs/events.md, Topics):";
  for (const std::string& e : problems.errors) message += "\n  - " + e;
  return Status::InvalidArgument(message);
}

Status Pipeline::Impl::Run(const std::atomic<bool>& stop) {
  stop_ = &stop;
  Clock::time_point last_message = Clock::now();
  Clock::time_point last_status = Clock::now();
  while (!stop.load()) {
    STREAMREC_RETURN_IF_ERROR(TakeOverHeldPartitions(stop));
    STREAMREC_RETURN_IF_ERROR(NextBatch());
    STREAMREC_RETURN_IF_ERROR(assignment_error_);  // a partition's state could not be restored
    STREAMREC_RETURN_IF_ERROR(ApplyItemUpdates());
    PollRules();
    STREAMREC_RETURN_IF_ERROR(AnswerLookups());
    const auto now = Clock::now();
    const bool consumed = batch_.consumed > 0 || !batch_.catalog_next_offsets.empty();
    if (consumed || ingest_->assigned_partitions() == 0) {
      // Idle time counts only while partitions are assigned (joining a group takes a while).
      last_message = now;
    }
    catalog_->Advance(NowMillis());
    list_deadline_ = Clock::time_point::max();
    if (consumed || catalog_->has_stale() || refresher_.HasDue(NowMillis())) {
      STREAMREC_RETURN_IF_ERROR(ProcessBatch(stop));
    } else {
      STREAMREC_RETURN_IF_ERROR(ServiceLists(/*wait=*/false));  // the lists being scored, once ready
    }
    if (consumed) last_consumed_ = now;
    // Polls are short while lists are scored: a poll that found nothing does not mean idle.
    STREAMREC_RETURN_IF_ERROR(PublishSurfaces(now - last_consumed_ < kEventsFlowingFor));
    if (WindowDue()) STREAMREC_RETURN_IF_ERROR(CommitWindow(stop));
    STREAMREC_RETURN_IF_ERROR(FinishWrite(stop, /*block=*/false));
    // Time spent waiting out a failing commit or delivery is not idle time.
    last_message = std::max(last_message, recovered_at_);
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
  return CommitAndWait(stop);
}

Status Pipeline::Impl::Stop() {
  Status result;
  if (ingest_) result = ingest_->Stop();
  if (exchange_) {
    Status s = exchange_->Stop();
    if (result.ok()) result = s;
  }
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
  if (writer_) writer_->Stop();  // after a failed Run a write may still be in flight: it finishes first
  writer_.reset();
  cache_.reset();
  store_.reset();
  log_->info("stopped: {} events applied in total, {} rejected, {} lists published this run",
             counters_.applied_events, counters_.rejected_events, stats_.lists);
  if (quality_.figures().scored > 0) {
    log_->info("live quality this run: {} ({} sampled events past pipeline.quality_max_per_s untested)",
               quality_.figures().Summary(config_.emitter.top_n), quality_.skipped());
  }
  if (user_only_events_ > 0) {
    log_->info("{} events of partitions taken over were learned for their users alone: their item side had come "
               "with the previous owner's item updates", user_only_events_);
  }
  const ingest::IngestCounters ingested = ingest_ ? ingest_->counters() : ingest::IngestCounters{};
  if (ingested.unkeyed + ingested.key_mismatches + users_moved_partition_ > 0) {
    log_->warn("partitioning this run: {} events without a key, {} with a key that is not their user_id, {} events "
               "of a user on another partition than their previous one",
               ingested.unkeyed, ingested.key_mismatches, users_moved_partition_);
  }
  return result;
}

int64_t Pipeline::Impl::ResumeOffset(const kafka::TopicPartition& tp) {
  if (tp.topic == config_.kafka.catalog_topic) {
    auto it = offsets_.find({tp.topic, tp.partition});
    return it != offsets_.end() ? it->second : kafka::kOffsetBeginning;
  }
  // Quick: inside the rebalance callback. The partition is held until
  // TakeOverHeldPartitions has adopted its state and chosen where it resumes.
  auto it = offsets_.find({tp.topic, tp.partition});
  if (it != offsets_.end()) return it->second;
  return config_.kafka.start_from == "latest" ? kafka::kOffsetEnd : kafka::kOffsetBeginning;
}

Status Pipeline::Impl::TakeOverHeldPartitions(const std::atomic<bool>& stop) {
  if (ingest_->HeldPartitions().empty()) return Status::Ok();
  STREAMREC_RETURN_IF_ERROR(CommitAndWait(stop));  // adoption needs a clean cache
  for (std::vector<int32_t> held = ingest_->HeldPartitions(); !held.empty() && !stop.load();
       held = ingest_->HeldPartitions()) {
    const int32_t partition = held.front();
    if (partition >= events_partitions_) CountEventPartitions();
    // The group is served after the adoption too (each step is bounded,
    // their sum is not); the owed lists are restored after that, so that a
    // revocation (which drops them) cannot come between them and the release.
    bool adopted = true;
    if (handoff_) STREAMREC_RETURN_IF_ERROR(AdoptChangelog(partition, &adopted));
    STREAMREC_RETURN_IF_ERROR(ServeGroup());
    // Revoked meanwhile; or the restore was stopped by a revocation that this
    // ServeGroup (or the restore's own) already undid: the partition is held
    // again, and its state must be restored again from this instance's
    // position, not released half-adopted (seen: e2e_adoption_revoked).
    if (!adopted || !ingest_->Holds(partition)) continue;
    if (exchange_) {
      STREAMREC_RETURN_IF_ERROR(CatchUpItemUpdates(partition, stop));
      if (!ingest_->Holds(partition)) continue;
    }
    STREAMREC_RETURN_IF_ERROR(RestoreOwedLists(partition));
    STREAMREC_RETURN_IF_ERROR(ingest_->Release(partition, ResumeOffset({config_.kafka.events_topic, partition})));
  }
  return Status::Ok();
}

void Pipeline::Impl::CountEventPartitions() {
  std::map<std::string, kafka::TopicInfo> found;
  const Status s = kafka::DescribeTopics(ClientProperties(config_.kafka, {}), {config_.kafka.events_topic}, false,
                                         kMetadataTimeoutMs, &found);
  auto it = found.find(config_.kafka.events_topic);
  if (!s.ok() || it == found.end()) {
    log_->warn("could not count the partitions of {} ({}): the item surfaces' owners follow the count known, {} "
               "(0: the owner of partition 0 publishes every item's)",
               config_.kafka.events_topic, s.ok() ? "not found" : s.ToString(), events_partitions_);
    return;
  }
  if (it->second.partitions != events_partitions_) {
    log_->info("{} has {} partitions: each item's surfaces are published by the member consuming the partition "
               "its id is keyed to",
               config_.kafka.events_topic, it->second.partitions);
  }
  events_partitions_ = it->second.partitions;
}

Status Pipeline::Impl::ApplyItemUpdates() {
  if (!exchange_) return Status::Ok();
  const size_t changed_before = touched_items_.size();
  size_t applied = 0;
  STREAMREC_RETURN_IF_ERROR(exchange_->Poll([this](int32_t p) { return Consuming(p); }, kItemRecordsPerPoll, 0,
                                            &touched_items_, &applied));
  // Own records lost to a crash, of partitions another member has: applied
  // (it learns their events for their users alone). Not before this member
  // has partitions: until then any partition may come back here.
  if (ingest_->assigned_partitions() > 0) {
    exchange_->ApplyOwnRecordsElsewhere([this](int32_t p) { return ingest_->Owns(p); }, &touched_items_, &applied);
  }
  if (applied == 0) return Status::Ok();
  if (!window_open_) OpenWindow(Clock::now());  // the items and positions commit with the next window
  // The approximate index follows the items changed (ProcessBatch does it for events).
  const std::span<const ItemId> changed(touched_items_.data() + changed_before, touched_items_.size() - changed_before);
  return emitter_->UpdateIndex(model_, changed);
}

Status Pipeline::Impl::CatchUpItemUpdates(int32_t partition, const std::atomic<bool>& stop) {
  size_t applied = 0;
  STREAMREC_RETURN_IF_ERROR(exchange_->CatchUp(
      partition, [this](int32_t p) { return Consuming(p); }, [this] { return ServeGroup(); }, stop, &touched_items_,
      &applied));
  const int64_t resume = ResumeOffset({config_.kafka.events_topic, partition});
  exchange_->ResolveOwnRecords(partition, resume == kafka::kOffsetBeginning ? 0 : resume, &touched_items_, &applied);
  if (applied == 0) return Status::Ok();
  log_->info("events/{}: {} item update records of other instances applied before resuming", partition, applied);
  if (!window_open_) OpenWindow(Clock::now());
  STREAMREC_RETURN_IF_ERROR(emitter_->UpdateIndex(model_, touched_items_));
  // Committed now: the next partition's adoption commits items without these positions.
  return CommitAndWait(stop);
}

Status Pipeline::Impl::ServeGroup() {
  STREAMREC_RETURN_IF_ERROR(ingest_->Serve(0));
  return std::exchange(assignment_error_, Status::Ok());  // a revocation's commit failed
}

void Pipeline::Impl::OnRevoked(const std::vector<kafka::TopicPartition>& partitions) {
  if (assignment_error_.ok()) assignment_error_ = CommitAndWait(*stop_);
  for (const kafka::TopicPartition& tp : partitions) refresher_.Drop(tp.partition);
  log_->info("{} partitions revoked; state for them is committed", partitions.size());
}

Status Pipeline::Impl::PublishSurfaces(bool events_flowing) {
  const int64_t now = NowMillis();
  surfaces_->Touch(touched_items_, now);
  touched_items_.clear();
  catalog_->TakeWithdrawn(&withdrawn_);
  for (ItemId item : withdrawn_) surfaces_->Withdraw(item, now);
  // Each item's lists by the member consuming the events partition its id
  // would be keyed to; trending by partition 0's (docs/SCALE_OUT.md).
  surfaces_->SetShards({.count = events_partitions_, .owns = [this](int32_t p) { return Consuming(p); }});
  learner_.TakeReplacedItems(&replaced_items_);
  for (const learner::Learner::ReplacedItem& r : replaced_items_) {
    STREAMREC_RETURN_IF_ERROR(surfaces_->Forget(r.external_id, r.slot, now));
  }
  const Clock::time_point started = Clock::now();
  const uint64_t before = surfaces_->item_lists_published();
  // Item lists run on this thread within the batch's budget (the users' lists
  // are scored on the emitter's thread); while events flow or users are owed
  // lists they get one chunk now and then.
  emitter::ItemListBudget budget;
  budget.deadline = list_deadline_;
  const bool lists_owed = refresher_.HasDue(now) || emitter_->busy();
  // A chunk's cost grows with the catalogue (~5 ms at 100k items, dim 64):
  // the pause after it grows too, so that item lists keep to their share of
  // this thread whatever the catalogue's size.
  const Clock::duration every =
      lists_owed       ? std::max<Clock::duration>(kItemChunkEveryWhileOwed, item_chunk_took_ * kItemChunkPauseWhileOwed)
      : events_flowing ? std::max<Clock::duration>(kItemChunkEveryWhileFlowing,
                                                   item_chunk_took_ * kItemChunkPauseWhileFlowing)
                       : Clock::duration::zero();
  if (every > Clock::duration::zero()) {
    const bool chunk_due = started - last_item_chunk_ >= every;
    budget.max_items = chunk_due ? emitter::SurfaceEmitter::kItemChunk : 0;
    if (chunk_due) last_item_chunk_ = started;
  } else {
    // Idle: a few chunks (~10 ms at 100k items), then a poll again, so that
    // the first event of a new burst waits for no more than that.
    budget.max_items = kItemChunksWhileIdle * emitter::SurfaceEmitter::kItemChunk;
  }
  STREAMREC_RETURN_IF_ERROR(surfaces_->Publish(model_, &catalog_->catalog(), now, budget));
  if (surfaces_->item_lists_published() == before) return Status::Ok();
  const Clock::duration took = Clock::now() - started;
  if (budget.max_items == emitter::SurfaceEmitter::kItemChunk) item_chunk_took_ = took;
  if (log_->should_log(spdlog::level::debug)) {
    log_->debug("surfaces: {} item lists in {:.1f} ms", surfaces_->item_lists_published() - before, Ms(took));
  }
  return Status::Ok();
}

void Pipeline::Impl::ReportProblem(std::string problem) {
  if (!health_) return;
  health_->Update([&](server::HealthSnapshot& h) {
    if (h.problem.empty()) h.problem_since_ms = NowMillis();
    h.problem = std::move(problem);
  });
}

void Pipeline::Impl::PublishHealth() {
  if (!table_full_logged_ && learner_.item_churn().replaced + learner_.item_churn().refused > 0) {
    log_->warn("item table full at {} items (learner.max_items): new items now replace cold ones or are refused "
               "(streamrec_items_replaced_total, streamrec_items_refused_total)", learner_.item_count());
    table_full_logged_ = true;
  }
  if (!health_) return;
  const int64_t now_ms = NowMillis();
  if (now_ms - memory_measured_ms_ >= 1000) {
    store::MemoryUsage memory;
    if (store_->MeasureMemory(&memory).ok()) store_memory_bytes_ = memory.block_cache_usage;
    consumer_lag_ = ingest_->Lags();
    memory_measured_ms_ = now_ms;
  }
  health_->Update([&](server::HealthSnapshot& h) {
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
    h.items_replaced = learner_.item_churn().replaced;
    h.items_refused = learner_.item_churn().refused;
    h.items_retracted = surfaces_->items_retracted();
    h.item_lists_published = surfaces_->item_lists_published();
    h.partitions = ingest_->assigned_partitions();
    h.last_commit_ms = last_commit_ms_;
    h.uncommitted_since_ms = committing_since_ms_ != 0 ? committing_since_ms_ : window_open_ ? window_opened_ms_ : 0;
    const ingest::IngestCounters ingested = ingest_->counters();
    h.events_lost = ingested.lost;
    h.dead_letters_resent = ingested.dead_letters_resent;
    h.dead_letters_dropped = ingested.dead_letters_dropped;
    h.events_unkeyed = ingested.unkeyed;
    h.events_key_mismatch = ingested.key_mismatches;
    h.users_moved_partition = users_moved_partition_;
    if (exchange_) {
      const ItemExchangeCounters x = exchange_->counters();
      h.item_records_published = x.published;
      h.item_record_bytes_published = x.published_bytes;
      h.item_records_applied = x.applied;
      h.item_records_skipped = x.skipped;
      h.item_records_malformed = x.malformed;
    }
    h.live_scored = quality_.figures().scored;
    h.live_hits = quality_.figures().hits;
    h.live_reciprocal_rank_sum = quality_.figures().reciprocal_rank_sum;
    h.store_memory_bytes = store_memory_bytes_;
    const learner::Learner::BlendWeights blend = learner_.blend_weights();
    h.blend_cooc_weight = blend.cooc;
    h.blend_recency_weight = blend.recency;
    h.blend_mf_weight = blend.mf;
    h.blend_short_recency_weight = blend.short_recency;
    h.blend_session_weight = blend.session;
    h.list_stages = list_stages_;
    h.commit_seal = commit_seal_;
    h.commit_write = commit_write_;
    h.consumer_lag = consumer_lag_;
    h.experiment = ledger_.experiment().name;
    h.variant_names.clear();
    for (const experiment::VariantOptions& v : ledger_.experiment().variants) h.variant_names.push_back(v.name);
    h.variants.assign(ledger_.tallies().begin(), ledger_.tallies().end());
    h.trending.clear();
    if (surfaces_->trending().built()) {
      const std::vector<emitter::ScoredItem>& global = surfaces_->trending().global();
      for (size_t k = 0; k < global.size() && k < 10; ++k) {
        h.trending.emplace_back(learner_.ItemExternalId(global[k].item), global[k].score);
      }
    }
  });
}

void Pipeline::Impl::LogStatus(Clock::duration elapsed) {
  const double seconds = std::chrono::duration<double>(elapsed).count();
  const uint64_t applied_delta = stats_.applied - status_applied_;
  status_applied_ = stats_.applied;
  log_->info("status: {:.0f} events/s, applied {}, rejected {}, lists {}, users cached {}, items {}",
             static_cast<double>(applied_delta) / seconds, counters_.applied_events, counters_.rejected_events,
             stats_.lists, cache_->size(), learner_.item_count());
  if (quality_.figures().scored > 0) log_->info("live quality: {}", quality_.figures().Summary(config_.emitter.top_n));
  LogLatency();
}

void Pipeline::Impl::LogLatency() {
  std::array<LatencyHistogram, server::kListStages> since;
  for (size_t stage = 0; stage < server::kListStages; ++stage) {
    since[stage] = list_stages_[stage].Since(list_stages_at_status_[stage]);
  }
  list_stages_at_status_ = list_stages_;
  if (since[server::kTotal].count() == 0) return;
  std::string stages;
  for (size_t stage = 0; stage < server::kTotal; ++stage) {
    stages += fmt::format("{}{} {:g}", stages.empty() ? "" : ", ", server::kListStageNames[stage],
                          since[stage].QuantileBoundMs(0.99));
  }
  log_->info("event to list (broker timestamp to produce, bucket bounds): p50 <= {:g} ms, p99 <= {:g} ms; "
             "p99 by stage: {} ms", since[server::kTotal].QuantileBoundMs(0.5), since[server::kTotal].QuantileBoundMs(0.99),
             stages);
}

Pipeline::Pipeline(config::Config config, server::HealthBoard* health, server::UserLookups* lookups)
    : impl_(std::make_unique<Impl>(std::move(config), health, lookups)) {}
Pipeline::~Pipeline() = default;
Status Pipeline::Start() { return impl_->Start(); }
Status Pipeline::Run(const std::atomic<bool>& stop) { return impl_->Run(stop); }
Status Pipeline::Stop() { return impl_->Stop(); }
PipelineStats Pipeline::stats() const { return impl_->stats(); }
void Pipeline::SetRulesSource(RulesSource source) { impl_->SetRulesSource(std::move(source)); }
void Pipeline::CrashAfterItemRecords(uint64_t records) { impl_->CrashAfterItemRecords(records); }

}  // namespace streamrec::pipeline
