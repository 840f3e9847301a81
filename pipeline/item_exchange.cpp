#include "pipeline/item_exchange.h"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <iterator>
#include <limits>
#include <optional>
#include <thread>

#include "common/logging.h"
#include "kafka/consumer.h"
#include "kafka/follower.h"
#include "kafka/producer.h"
#include "learner/item_updates.h"

namespace streamrec::pipeline {
namespace {

// The store keeps applied_next per partition under this pseudo-topic (no
// Kafka topic name may hold a '#').
std::string AppliedKey(const std::string& topic) { return topic + "#applied"; }
std::string OwnKey(const std::string& topic) { return topic + "#own"; }

std::optional<int64_t> ParseInt(std::optional<std::string_view> text) {
  if (!text) return std::nullopt;
  int64_t value = 0;
  const auto [end, error] = std::from_chars(text->data(), text->data() + text->size(), value);
  if (error != std::errc() || end != text->data() + text->size()) return std::nullopt;
  return value;
}

// A record whose delivery failed, to be produced again.
struct FailedRecord {
  int32_t partition = 0;
  std::string value;
  std::string from;
  std::string next;
};

}  // namespace

struct ItemExchange::Impl {
  // Per events partition (and the topic's partition of the same number).
  struct Partition {
    int64_t position = -1;      // the next topic offset to read; -1: from the beginning
    int64_t applied_next = -1;  // `next` of the last other writer's record applied
    int64_t own_next = -1;      // `next` of this writer's last record seen, applied or produced
    // `next` of this writer's last record whose item side this state holds
    // (stored at each commit). kAllOwnCommitted: a state stored before this
    // was kept, whose own records are all taken as held, until this process
    // produces one for the partition.
    int64_t own_committed = -1;
    int64_t produced_next = -1;  // `next` of the last record this process produced (held in memory)
    // Own records past own_committed, read and not yet resolved (ResolveOwnRecords,
    // ApplyOwnRecordsElsewhere); the stored read position stays at the first.
    struct PendingOwn {
      int64_t offset = 0;
      int64_t from = 0;
      int64_t next = 0;
      std::string payload;
    };
    std::vector<PendingOwn> pending_own;
    bool open = false;          // events recorded since the last record
    int64_t from = 0;           // the first of them
    int64_t next = 0;           // after the last
  };
  static constexpr int64_t kAllOwnCommitted = std::numeric_limits<int64_t>::max();
  Partition& Of(int32_t partition) {
    auto [it, added] = partitions.try_emplace(partition);
    if (added && legacy_state) it->second.own_committed = kAllOwnCommitted;
    return it->second;
  }
  bool legacy_state = false;  // positions stored without own_committed (an older version's)
  int64_t ReadPosition(int32_t partition, int64_t low) {
    const int64_t p = Of(partition).position;
    return p < 0 ? low : p;
  }

  std::map<int32_t, Partition> partitions;
  std::unique_ptr<kafka::Producer> producer;
  std::unique_ptr<kafka::TopicFollower> follower;
  std::vector<FailedRecord> failed;
  uint64_t produced_bytes = 0;  // since the last flush that succeeded
  learner::ItemUpdates updates;  // scratch
  std::string encoded;
  std::vector<kafka::Message> messages;
  bool zombie_logged = false;
  std::shared_ptr<spdlog::logger> log = ModuleLogger("pipeline");
};

ItemExchange::ItemExchange(ItemExchangeOptions options, learner::Learner* learner)
    : options_(std::move(options)), learner_(learner), impl_(std::make_unique<Impl>()) {}

ItemExchange::~ItemExchange() = default;

Status ItemExchange::Start(const store::Offsets& stored) {
  Impl& m = *impl_;
  const std::string applied = AppliedKey(options_.topic);
  const std::string own = OwnKey(options_.topic);
  bool positions = false;
  bool owns = false;
  for (const auto& [key, offset] : stored) {
    positions = positions || key.first == options_.topic || key.first == applied;
    owns = owns || key.first == own;
  }
  m.legacy_state = positions && !owns;
  for (const auto& [key, offset] : stored) {
    if (key.first == options_.topic) m.Of(key.second).position = offset;
    if (key.first == applied) m.Of(key.second).applied_next = offset;
    if (key.first == own) m.Of(key.second).own_committed = offset;
  }
  kafka::ProducerOptions popts;
  popts.properties = options_.producer_properties;
  popts.warm_topics = {options_.topic};
  popts.on_failure = [impl = impl_.get()](const kafka::FailedDelivery& f) {
    FailedRecord& r = impl->failed.emplace_back();
    r.partition = static_cast<int32_t>(ParseInt(f.key).value_or(0));
    r.value.assign(f.value);
    for (const kafka::Header& h : f.headers) {
      if (h.name == "from") r.from.assign(h.value);
      if (h.name == "next") r.next.assign(h.value);
    }
  };
  STREAMREC_RETURN_IF_ERROR(kafka::Producer::Create(popts, &m.producer).WithContext("item updates producer"));
  STREAMREC_RETURN_IF_ERROR(kafka::TopicFollower::Create(
      options_.reader_properties, options_.topic,
      [impl = impl_.get()](int32_t partition) {
        const int64_t p = impl->Of(partition).position;
        return p < 0 ? kafka::kOffsetBeginning : p;
      },
      &m.follower));
  learner_->RecordItemUpdates(true);
  m.log->info("sharing the item side through {} (instance {})", options_.topic, options_.writer_id);
  return Status::Ok();
}

Status ItemExchange::Stop() {
  learner_->RecordItemUpdates(false);
  Status s;
  if (impl_->producer && impl_->producer->outstanding() > 0) s = impl_->producer->Flush(options_.timeout_ms);
  impl_->messages.clear();  // librdkafka's close waits for every message it handed out
  impl_->follower.reset();
  impl_->producer.reset();
  return s;
}

learner::Learner::Scope ItemExchange::ScopeOf(int32_t partition, int64_t offset) const {
  auto it = impl_->partitions.find(partition);
  if (it == impl_->partitions.end()) return {partition, true, true};
  const Impl::Partition& p = it->second;
  const bool item_side = offset >= p.applied_next;
  return {partition, item_side, item_side && offset >= p.own_next};
}

Status ItemExchange::Learned(int32_t partition, int64_t offset) {
  Impl::Partition& p = impl_->Of(partition);
  if (!p.open) {
    p.open = true;
    p.from = offset;
  }
  p.next = offset + 1;
  if (learner_->item_update_bytes(partition) < options_.max_record_bytes) return Status::Ok();
  return Produce(partition);
}

Status ItemExchange::Produce(int32_t partition) {
  Impl& m = *impl_;
  Impl::Partition& p = m.Of(partition);
  if (!p.open) return Status::Ok();
  learner_->TakeItemUpdates(partition, &m.updates);
  p.open = false;
  m.encoded = learner::EncodeItemUpdates(m.updates, static_cast<uint32_t>(learner_->options().dim));
  const std::string from = std::to_string(p.from);
  const std::string next = std::to_string(p.next);
  const kafka::Header headers[] = {{"writer", options_.writer_id}, {"from", from}, {"next", next}};
  p.own_next = std::max(p.own_next, p.next);
  p.produced_next = std::max(p.produced_next, p.next);
  m.produced_bytes += m.encoded.size();
  Status s = m.producer->Produce(options_.topic, std::to_string(partition), m.encoded, headers, partition);
  // The sums are out of the learner now: a record not enqueued goes again with the next flush.
  if (!s.ok()) m.failed.push_back({partition, m.encoded, from, next});
  return s;
}

Status ItemExchange::PublishAndFlush() {
  Impl& m = *impl_;
  for (auto& [partition, p] : m.partitions) STREAMREC_RETURN_IF_ERROR(Produce(partition));
  // Records whose delivery failed go again (their sums commute with any
  // later record's, so the order does not matter to a reader).
  std::vector<FailedRecord> failed;
  failed.swap(m.failed);
  for (size_t i = 0; i < failed.size(); ++i) {
    const FailedRecord& r = failed[i];
    const kafka::Header headers[] = {{"writer", options_.writer_id}, {"from", r.from}, {"next", r.next}};
    Status s = m.producer->Produce(options_.topic, std::to_string(r.partition), r.value, headers, r.partition);
    if (!s.ok()) {  // this one and the rest wait for the next call
      m.failed.insert(m.failed.end(), std::make_move_iterator(failed.begin() + static_cast<std::ptrdiff_t>(i)),
                      std::make_move_iterator(failed.end()));
      return s;
    }
  }
  const uint64_t delivered_before = m.producer->delivered();
  Status s = m.producer->Flush(options_.timeout_ms);
  counters_.published += m.producer->delivered() - delivered_before;
  if (!s.ok()) {
    return Status::Unavailable("delivering item updates to " + options_.topic + ": " + s.message());
  }
  counters_.published_bytes += m.produced_bytes;
  m.produced_bytes = 0;
  return Status::Ok();
}

Status ItemExchange::Poll(const std::function<bool(int32_t)>& consuming, size_t max_records, int timeout_ms,
                          std::vector<ItemId>* changed, size_t* applied) {
  Impl& m = *impl_;
  m.messages.clear();
  STREAMREC_RETURN_IF_ERROR(m.follower->Poll(max_records, timeout_ms, &m.messages));
  for (const kafka::Message& message : m.messages) {
    const int32_t partition = message.partition();
    Impl::Partition& p = m.Of(partition);
    p.position = message.offset() + 1;
    const std::optional<std::string_view> writer = message.header("writer");
    const std::optional<int64_t> next = ParseInt(message.header("next"));
    if (!writer || !next) {
      ++counters_.malformed;
      m.log->error("{}/{} offset {}: a record without writer or next header, skipped", options_.topic, partition,
                   message.offset());
      continue;
    }
    if (*writer == options_.writer_id) {
      if (*next <= std::max(p.own_committed, p.produced_next)) {  // its item side is in this state
        p.own_next = std::max(p.own_next, *next);
        ++counters_.skipped;
        continue;
      }
      // Delivered before a crash, and its window never committed: resolved
      // once it is known who learns its events next (ResolveOwnRecords).
      p.pending_own.push_back({message.offset(), ParseInt(message.header("from")).value_or(0), *next,
                               std::string(message.payload())});
      continue;
    }
    if (*next <= p.applied_next) {
      ++counters_.skipped;
      continue;
    }
    if (consuming(partition)) {
      // Only a writer that lost the partition without knowing it (a zombie)
      // writes here now: this instance learns those events itself.
      ++counters_.skipped;
      if (!std::exchange(m.zombie_logged, true)) {
        m.log->warn("{}/{}: a record of instance {} for events partition {}, which this instance consumes: skipped",
                    options_.topic, partition, *writer, partition);
      }
      continue;
    }
    Apply(partition, message.offset(), *writer, message.payload(), *next, changed, applied);
  }
  m.messages.clear();
  return Status::Ok();
}

void ItemExchange::Apply(int32_t partition, int64_t offset, std::string_view writer, std::string_view payload,
                         int64_t next, std::vector<ItemId>* changed, size_t* applied) {
  Impl& m = *impl_;
  Status s = learner::DecodeItemUpdates(payload, static_cast<uint32_t>(learner_->options().dim), &m.updates);
  if (!s.ok()) {
    if (counters_.malformed++ % 1000 == 0) {
      m.log->error("{}/{} offset {} from instance {}: {} (skipped; {} so far)", options_.topic, partition, offset,
                   writer, s.message(), counters_.malformed);
    }
    return;
  }
  counters_.refused_items += learner_->ApplyItemUpdates(m.updates, changed);
  Impl::Partition& p = m.Of(partition);
  p.applied_next = std::max(p.applied_next, next);
  ++counters_.applied;
  ++*applied;
}

void ItemExchange::ResolveOwnRecords(int32_t partition, int64_t resume, std::vector<ItemId>* changed, size_t* applied) {
  Impl::Partition& p = impl_->Of(partition);
  for (Impl::Partition::PendingOwn& r : p.pending_own) {
    // Its events are learned here again from `resume`: whole, not published
    // again (own_next), as the lost window learned them. Else another
    // instance learned some for their users alone: applied.
    if (resume >= 0 && resume <= r.from) {
      ++counters_.skipped;
    } else {
      Apply(partition, r.offset, options_.writer_id, r.payload, r.next, changed, applied);
    }
    p.own_next = std::max(p.own_next, r.next);
  }
  p.pending_own.clear();
}

void ItemExchange::ApplyOwnRecordsElsewhere(const std::function<bool(int32_t)>& owned, std::vector<ItemId>* changed,
                                            size_t* applied) {
  for (auto& [partition, p] : impl_->partitions) {
    if (!p.pending_own.empty() && !owned(partition)) ResolveOwnRecords(partition, -1, changed, applied);
  }
}

Status ItemExchange::CatchUp(int32_t partition, const std::function<bool(int32_t)>& consuming,
                             const std::function<Status()>& between, const std::atomic<bool>& stop,
                             std::vector<ItemId>* changed, size_t* applied) {
  Impl& m = *impl_;
  int64_t low = 0;
  int64_t high = 0;
  for (int backoff_ms = 100;; backoff_ms = std::min(backoff_ms * 2, 2000)) {
    Status s = m.follower->Watermarks(partition, options_.timeout_ms, &low, &high);
    if (s.ok()) break;
    if (!s.retryable() || stop.load()) return s.WithContext("catching up with " + options_.topic);
    m.log->warn("catching up with {}/{}: {} (retrying)", options_.topic, partition, s.message());
    std::this_thread::sleep_for(std::chrono::milliseconds(backoff_ms));
  }
  if (m.Of(partition).position >= 0 && m.Of(partition).position < low) {
    m.log->error("{}/{}: records {}..{} were deleted (retention) before this instance read them: their item "
                 "updates are missing here", options_.topic, partition, m.Of(partition).position, low);
  }
  // This partition's records are not this instance's to skip while it catches up.
  const auto consuming_others = [&](int32_t p) { return p != partition && consuming(p); };
  while (m.ReadPosition(partition, low) < high && !stop.load()) {
    STREAMREC_RETURN_IF_ERROR(Poll(consuming_others, 64, 100, changed, applied));
    STREAMREC_RETURN_IF_ERROR(between());
  }
  return Status::Ok();
}

void ItemExchange::AddPositions(store::Offsets* out) {
  const std::string applied = AppliedKey(options_.topic);
  const std::string own = OwnKey(options_.topic);
  for (auto& [partition, p] : impl_->partitions) {
    // A pending own record is read again after a crash.
    const int64_t position = p.pending_own.empty() ? p.position : p.pending_own.front().offset;
    if (position >= 0) (*out)[{options_.topic, partition}] = position;
    if (p.applied_next >= 0) (*out)[{applied, partition}] = p.applied_next;
    // Every own record so far was delivered before this commit, or applied in this state.
    if (p.own_committed != Impl::kAllOwnCommitted || p.produced_next >= 0) {
      p.own_committed = p.own_committed == Impl::kAllOwnCommitted ? p.own_next : std::max(p.own_committed, p.own_next);
    }
    (*out)[{own, partition}] = p.own_committed;
  }
}

}  // namespace streamrec::pipeline
