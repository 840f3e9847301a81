#include "ingest/ingest.h"

#include "common/logging.h"
#include "kafka/producer.h"

namespace streamrec::ingest {

struct Ingest::Impl {
  Impl(IngestOptions opts, kafka::PositionProvider* provider)
      : options(std::move(opts)), positions(provider), decoder(options.limits) {}

  Status SendToDeadLetters(const kafka::Message& m, const Rejection& r) {
    const std::string reason = r.Reason();
    const std::string partition = std::to_string(m.partition());
    const std::string offset = std::to_string(m.offset());
    const kafka::Header headers[] = {{"reason", reason},
                                     {"source.topic", m.topic()},
                                     {"source.partition", partition},
                                     {"source.offset", offset}};
    return dead_letters->Produce(options.dead_letter_topic, m.key(), m.payload(), headers);
  }

  IngestOptions options;
  kafka::PositionProvider* positions;
  EventDecoder decoder;
  std::unique_ptr<kafka::Consumer> consumer;
  std::unique_ptr<kafka::Producer> dead_letters;
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
  STREAMREC_RETURN_IF_ERROR(kafka::Producer::Create(popts, &impl_->dead_letters).WithContext("dead-letter producer"));
  kafka::ConsumerOptions copts;
  copts.properties = impl_->options.consumer_properties;
  copts.topics = {impl_->options.events_topic};
  STREAMREC_RETURN_IF_ERROR(kafka::Consumer::Create(copts, impl_->positions, &impl_->consumer));
  impl_->log->info("consuming {} (dead letters to {})", impl_->options.events_topic, impl_->options.dead_letter_topic);
  return Status::Ok();
}

Status Ingest::NextBatch(IngestBatch* batch) {
  batch->Clear();
  impl_->messages.clear();
  STREAMREC_RETURN_IF_ERROR(impl_->consumer->PollBatch(impl_->options.max_batch_events,
                                                       impl_->options.max_batch_wait_ms, &impl_->messages));
  for (const kafka::Message& m : impl_->messages) {
    if (batch->size == batch->events.size()) batch->events.emplace_back();
    IngestedEvent& slot = batch->events[batch->size];
    std::optional<Rejection> rejection = impl_->decoder.Decode(m.payload(), m.key(), m.timestamp_ms(), &slot.event);
    batch->next_offsets[m.partition()] = m.offset() + 1;
    ++batch->consumed;
    if (rejection) {
      ++batch->rejected;
      impl_->log->debug("rejected {}/{}@{}: {}", m.topic(), m.partition(), m.offset(), rejection->Reason());
      STREAMREC_RETURN_IF_ERROR(impl_->SendToDeadLetters(m, *rejection));
      continue;
    }
    slot.partition = m.partition();
    slot.offset = m.offset();
    ++batch->size;
  }
  impl_->counters.consumed += batch->consumed;
  impl_->counters.rejected += batch->rejected;
  impl_->dead_letters->Poll(0);
  return Status::Ok();
}

Status Ingest::FlushDeadLetters(int timeout_ms) { return impl_->dead_letters->Flush(timeout_ms); }

void Ingest::ReportPositions(const IngestBatch& batch) {
  std::vector<std::pair<kafka::TopicPartition, int64_t>> positions;
  for (const auto& [partition, offset] : batch.next_offsets) {
    positions.push_back({{impl_->options.events_topic, partition}, offset});
  }
  impl_->consumer->CommitForMonitoring(positions);
}

Status Ingest::Stop() {
  Status closed = impl_->consumer ? impl_->consumer->Close() : Status::Ok();
  if (impl_->dead_letters) STREAMREC_RETURN_IF_ERROR(impl_->dead_letters->Flush(10000));
  return closed;
}

size_t Ingest::assigned_partitions() const { return impl_->consumer ? impl_->consumer->Assignment().size() : 0; }

IngestCounters Ingest::counters() const {
  IngestCounters c = impl_->counters;
  c.dead_letters_delivered = impl_->dead_letters ? impl_->dead_letters->delivered() : 0;
  return c;
}

}  // namespace streamrec::ingest
