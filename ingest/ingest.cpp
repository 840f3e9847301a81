#include "ingest/ingest.h"

#include <algorithm>
#include <array>
#include <chrono>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "common/clock.h"
#include "common/hash.h"
#include "common/logging.h"
#include "ingest/catalog_decoder.h"
#include "kafka/follower.h"
#include "kafka/producer.h"

namespace streamrec::ingest {
namespace {

// Catalog messages read per batch at most: a large catalog load is spread
// over batches instead of stalling event processing.
constexpr size_t kMaxCatalogPerBatch = 4096;

// A dead letter whose delivery failed, kept to be produced again.
struct FailedLetter {
  std::string topic;
  std::string key;
  std::string value;
  std::vector<std::pair<std::string, std::string>> headers;
  bool too_large = false;
};

FailedLetter CopyLetter(const kafka::FailedDelivery& f) {
  FailedLetter l{std::string(f.topic), std::string(f.key), std::string(f.value), {}, f.too_large};
  for (const kafka::Header& h : f.headers) l.headers.emplace_back(h.name, h.value);
  return l;
}

// Halves a letter too large for its topic: its value, then (once the value
// is empty) its key. The first cut adds the headers of a truncated letter,
// with the sizes and hash of what it held before. False when nothing is left to cut.
bool CutInHalf(FailedLetter* l) {
  if (l->value.empty() && l->key.empty()) return false;
  const bool marked = std::any_of(l->headers.begin(), l->headers.end(),
                                  [](const auto& h) { return h.first == "original.value_bytes"; });
  if (!marked) {
    l->headers.emplace_back("truncated", "true");
    l->headers.emplace_back("original.value_bytes", std::to_string(l->value.size()));
    l->headers.emplace_back("original.key_bytes", std::to_string(l->key.size()));
    l->headers.emplace_back("original.value_fnv1a64", fmt::format("{:016x}", Fnv1a64(l->value)));
  }
  if (!l->value.empty()) {
    l->value.resize(l->value.size() / 2);
  } else {
    l->key.resize(l->key.size() / 2);
  }
  return true;
}

}  // namespace

DeadLetter MakeDeadLetter(std::string_view key, std::string_view value, size_t max_value_bytes) {
  DeadLetter out;
  out.key = key.substr(0, kDeadLetterMaxKeyBytes);
  out.value = value.substr(0, max_value_bytes);
  out.truncated = out.key.size() < key.size() || out.value.size() < value.size();
  if (out.truncated) {
    out.original_value_bytes = std::to_string(value.size());
    out.original_key_bytes = std::to_string(key.size());
    out.value_fnv1a64 = fmt::format("{:016x}", Fnv1a64(value));
  }
  return out;
}

struct Ingest::Impl {
  Impl(IngestOptions opts, kafka::PositionProvider* provider)
      : options(std::move(opts)), positions(provider), decoder(options.limits), catalog_decoder(options.limits) {}

  Status ReadCatalog(IngestBatch* batch) {
    catalog_messages.clear();
    STREAMREC_RETURN_IF_ERROR(catalog->Poll(kMaxCatalogPerBatch, 0, &catalog_messages));
    CatalogUpdate update;
    for (const kafka::Message& m : catalog_messages) {
      batch->catalog_next_offsets[m.partition()] = m.offset() + 1;
      if (std::optional<Rejection> r = catalog_decoder.Decode(m.payload(), m.key(), &update)) {
        ++batch->rejected;
        log->debug("rejected {}/{}@{}: {}", m.topic(), m.partition(), m.offset(), r->Reason());
        STREAMREC_RETURN_IF_ERROR(SendToDeadLetters(m, *r));
        continue;
      }
      batch->catalog.push_back(std::move(update));
    }
    return Status::Ok();
  }

  // Producer-side partitioning: counted, and said once, since every instance
  // owns the users of its partitions (docs/events.md, "Keys and partitions").
  void NoteUnkeyed(const kafka::Message& m) {
    if (counters.unkeyed++ > 0) return;
    log->warn("events without a key (first: {}/{}@{}): the producer's partitioner spreads a user's events over "
              "partitions, splitting their history between instances; key each event by its user_id "
              "(streamrec_events_unkeyed_total counts them)",
              m.topic(), m.partition(), m.offset());
  }
  void NoteKeyMismatch(const kafka::Message& m) {
    if (counters.key_mismatches++ > 0) return;
    log->warn("events whose key is not their user_id (first: {}/{}@{}) go to the dead-letter topic "
              "(key_mismatch:user_id): a user's events must share one key, their user_id "
              "(streamrec_events_key_mismatch_total counts them)",
              m.topic(), m.partition(), m.offset());
  }

  Status SendToDeadLetters(const kafka::Message& m, const Rejection& r) {
    const std::string reason = r.Reason();
    const std::string partition = std::to_string(m.partition());
    const std::string offset = std::to_string(m.offset());
    const DeadLetter letter = MakeDeadLetter(m.key(), m.payload(), options.limits.dead_letter_max_bytes);
    // Views only: a flood of rejects allocates nothing for its headers.
    const std::array<kafka::Header, 8> headers = {{{"reason", reason},
                                                   {"source.topic", m.topic()},
                                                   {"source.partition", partition},
                                                   {"source.offset", offset},
                                                   {"truncated", "true"},
                                                   {"original.value_bytes", letter.original_value_bytes},
                                                   {"original.key_bytes", letter.original_key_bytes},
                                                   {"original.value_fnv1a64", letter.value_fnv1a64}}};
    const size_t count = letter.truncated ? headers.size() : 4;
    if (letter.truncated) {
      log->warn("dead letter of {}/{}@{} truncated: value {} bytes, key {} bytes", m.topic(), m.partition(),
                m.offset(), letter.original_value_bytes, letter.original_key_bytes);
    }
    return dead_letters->Produce(options.dead_letter_topic, letter.key, letter.value,
                                 std::span<const kafka::Header>(headers.data(), count));
  }

  // Produces the letters whose delivery failed again; returns how many.
  Status ResendFailedLetters(size_t* resent) {
    std::vector<FailedLetter> letters = std::exchange(failed_letters, {});
    *resent = 0;
    for (FailedLetter& l : letters) {
      if (l.too_large && !CutInHalf(&l)) {
        ++counters.dead_letters_dropped;
        log->error("a dead letter to {} could not be delivered even empty (the topic's max.message.bytes is below "
                   "its headers): dropped", l.topic);
        continue;
      }
      if (l.too_large) log->warn("a dead letter was too large for {}: sending it again cut to {} bytes", l.topic, l.value.size());
      std::vector<kafka::Header> headers;
      for (const auto& [name, value] : l.headers) headers.push_back({name, value});
      STREAMREC_RETURN_IF_ERROR(dead_letters->Produce(l.topic, l.key, l.value, headers));
      ++*resent;
    }
    counters.dead_letters_resent += *resent;
    return Status::Ok();
  }

  IngestOptions options;
  kafka::PositionProvider* positions;
  EventDecoder decoder;
  CatalogDecoder catalog_decoder;
  std::unique_ptr<kafka::Consumer> consumer;
  std::unique_ptr<kafka::TopicFollower> catalog;  // null without a catalog topic
  std::vector<kafka::Message> catalog_messages;
  std::unique_ptr<kafka::Producer> dead_letters;
  std::vector<FailedLetter> failed_letters;  // filled by the producer's failure reports, on the owning thread
  std::vector<kafka::Message> messages;
  IngestCounters counters;
  std::shared_ptr<spdlog::logger> log = ModuleLogger("ingest");
};

Ingest::Ingest(IngestOptions options, kafka::PositionProvider* positions)
    : impl_(std::make_unique<Impl>(std::move(options), positions)) {}

Ingest::~Ingest() = default;

Status Ingest::Start() {
  kafka::ProducerOptions popts;
  popts.properties = impl_->options.producer_properties;
  popts.warm_topics = {impl_->options.dead_letter_topic};
  popts.on_failure = [impl = impl_.get()](const kafka::FailedDelivery& f) {
    impl->failed_letters.push_back(CopyLetter(f));
  };
  STREAMREC_RETURN_IF_ERROR(kafka::Producer::Create(popts, &impl_->dead_letters).WithContext("dead-letter producer"));
  kafka::ConsumerOptions copts;
  copts.properties = impl_->options.consumer_properties;
  copts.topics = {impl_->options.events_topic};
  STREAMREC_RETURN_IF_ERROR(kafka::Consumer::Create(copts, impl_->positions, &impl_->consumer));
  if (!impl_->options.catalog_topic.empty()) {
    const std::string& topic = impl_->options.catalog_topic;
    kafka::PositionProvider* positions = impl_->positions;
    STREAMREC_RETURN_IF_ERROR(kafka::TopicFollower::Create(
        impl_->options.catalog_properties, topic,
        [topic, positions](int32_t partition) { return positions->ResumeOffset({topic, partition}); },
        &impl_->catalog));
  }
  impl_->log->info("consuming {} (dead letters to {})", impl_->options.events_topic, impl_->options.dead_letter_topic);
  return Status::Ok();
}

Status Ingest::NextBatch(IngestBatch* batch) {
  return NextBatch(batch, impl_->options.max_batch_events, impl_->options.max_batch_wait_ms);
}

Status Ingest::NextBatch(IngestBatch* batch, size_t max_events, int max_wait_ms) {
  batch->Clear();
  impl_->messages.clear();
  STREAMREC_RETURN_IF_ERROR(impl_->consumer->PollBatch(max_events, max_wait_ms, &impl_->messages,
                                                                 std::min(max_wait_ms, impl_->options.max_batch_linger_ms)));
  batch->received_ms = NowMillis();
  for (const kafka::Message& m : impl_->messages) {
    if (batch->size == batch->events.size()) batch->events.emplace_back();
    IngestedEvent& slot = batch->events[batch->size];
    std::optional<Rejection> rejection = impl_->decoder.Decode(m.payload(), m.key(), m.timestamp_ms(), &slot.event);
    batch->next_offsets[m.partition()] = m.offset() + 1;
    ++batch->consumed;
    if (rejection) {
      ++batch->rejected;
      if (rejection->code == RejectCode::kKeyMismatch) impl_->NoteKeyMismatch(m);
      impl_->log->debug("rejected {}/{}@{}: {}", m.topic(), m.partition(), m.offset(), rejection->Reason());
      STREAMREC_RETURN_IF_ERROR(impl_->SendToDeadLetters(m, *rejection));
      continue;
    }
    if (m.key().empty()) impl_->NoteUnkeyed(m);
    slot.partition = m.partition();
    slot.offset = m.offset();
    slot.appended_ms = m.timestamp_ms();
    ++batch->size;
  }
  if (impl_->catalog) STREAMREC_RETURN_IF_ERROR(impl_->ReadCatalog(batch));
  impl_->counters.consumed += batch->consumed;
  impl_->counters.rejected += batch->rejected;
  impl_->dead_letters->Poll(0);
  return Status::Ok();
}

Status Ingest::FlushDeadLetters(int timeout_ms) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    const Status flushed = impl_->dead_letters->Flush(static_cast<int>(std::max<int64_t>(0, left.count())));
    if (impl_->failed_letters.empty()) return flushed;
    size_t resent = 0;
    STREAMREC_RETURN_IF_ERROR(impl_->ResendFailedLetters(&resent));
    // Every failure was a letter nothing could deliver (counted and logged).
    if (resent == 0) return impl_->dead_letters->outstanding() > 0 ? flushed : Status::Ok();
    if (std::chrono::steady_clock::now() >= deadline) {
      return Status::Unavailable(fmt::format("{} dead letters sent again after: {}", resent, flushed.message()));
    }
  }
}

void Ingest::ReportPositions(const std::map<int32_t, int64_t>& next_offsets) {
  std::vector<std::pair<kafka::TopicPartition, int64_t>> positions;
  for (const auto& [partition, offset] : next_offsets) {
    positions.push_back({{impl_->options.events_topic, partition}, offset});
  }
  impl_->consumer->CommitForMonitoring(positions);
}

Status Ingest::Stop() {
  Status closed = impl_->consumer ? impl_->consumer->Close() : Status::Ok();
  if (impl_->dead_letters) STREAMREC_RETURN_IF_ERROR(impl_->dead_letters->Flush(10000));
  return closed;
}

std::vector<std::pair<int32_t, int64_t>> Ingest::Lags() const {
  return impl_->consumer ? impl_->consumer->Lags() : std::vector<std::pair<int32_t, int64_t>>{};
}

bool Ingest::Owns(int32_t partition) const {
  if (!impl_->consumer) return false;
  for (const kafka::TopicPartition& tp : impl_->consumer->Assignment()) {
    if (tp.partition == partition && tp.topic == impl_->options.events_topic) return true;
  }
  return false;
}

std::vector<int32_t> Ingest::HeldPartitions() const {
  std::vector<int32_t> out;
  if (!impl_->consumer) return out;
  for (const kafka::TopicPartition& tp : impl_->consumer->Held()) {
    if (tp.topic == impl_->options.events_topic) out.push_back(tp.partition);
  }
  return out;
}

bool Ingest::Holds(int32_t partition) const {
  if (!impl_->consumer) return false;
  const std::vector<kafka::TopicPartition>& held = impl_->consumer->Held();
  return std::find(held.begin(), held.end(), kafka::TopicPartition{impl_->options.events_topic, partition}) !=
         held.end();
}

Status Ingest::Release(int32_t partition, int64_t offset) {
  return impl_->consumer->Release({impl_->options.events_topic, partition}, offset);
}

Status Ingest::Serve(int timeout_ms) { return impl_->consumer->Serve(timeout_ms); }

size_t Ingest::assigned_partitions() const { return impl_->consumer ? impl_->consumer->Assignment().size() : 0; }

IngestCounters Ingest::counters() const {
  IngestCounters c = impl_->counters;
  c.dead_letters_delivered = impl_->dead_letters ? impl_->dead_letters->delivered() : 0;
  c.lost = impl_->consumer ? impl_->consumer->lost_offsets() : 0;
  return c;
}

}  // namespace streamrec::ingest
