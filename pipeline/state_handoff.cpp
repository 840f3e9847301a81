#include "pipeline/state_handoff.h"

#include <cstring>

#include <fmt/format.h>

#include "common/experiment_codec.h"
#include "common/fixed.h"
#include "common/logging.h"
#include "kafka/producer.h"
#include "kafka/reader.h"
#include "pipeline/changelog_scan.h"

namespace streamrec::pipeline {
namespace {

constexpr uint8_t kUserVersion = 1;

void PutItemNames(std::string* out, const std::vector<ItemId>& ids, const ItemNames& items) {
  PutFixed<uint32_t>(out, static_cast<uint32_t>(ids.size()));
  for (ItemId item : ids) {
    const std::string& name = items.external(item);
    PutFixed<uint16_t>(out, static_cast<uint16_t>(name.size()));
    out->append(name);
  }
}

// An item the learner refused is left out, or read as kNoItem when `keep_refused`.
bool GetItemNames(std::string_view* in, const ItemNames& items, std::vector<ItemId>* ids, bool keep_refused = false) {
  uint32_t count = 0;
  if (!GetFixed(in, &count)) return false;
  ids->clear();
  for (uint32_t k = 0; k < count; ++k) {
    uint16_t len = 0;
    if (!GetFixed(in, &len) || in->size() < len) return false;
    // An item the learner refused (its table full) leaves the list.
    if (const std::optional<ItemId> id = items.intern(in->substr(0, len))) {
      ids->push_back(*id);
    } else if (keep_refused) {
      ids->push_back(ItemId(UserRecord::kNoItem));
    }
    in->remove_prefix(len);
  }
  return true;
}

}  // namespace

// Layout (little-endian): u8 version, u64 events, u64 seq, u32 dim, dim x f32,
// then four item lists (history, purchased, current list, basket), each a u32 count
// and per item u16 length + external id bytes. Records written before the
// last two lists existed end after the history.
void AppendChangelogUser(const UserRecord& user, const ItemNames& items, std::string* out) {
  PutFixed<uint8_t>(out, kUserVersion);
  PutFixed<uint64_t>(out, user.events);
  PutFixed<uint64_t>(out, user.seq);
  PutFixed<uint32_t>(out, static_cast<uint32_t>(user.embedding.size()));
  out->append(reinterpret_cast<const char*>(user.embedding.data()), user.embedding.size() * sizeof(float));
  PutItemNames(out, user.history, items);
  PutItemNames(out, user.purchased, items);
  PutItemNames(out, user.list, items);
  PutItemNames(out, user.basket, items);
  PutExperimentTail(user, out, [&items](const std::vector<ItemId>& ids, std::string* o) { PutItemNames(o, ids, items); });
}

std::string EncodeChangelogUser(const UserRecord& user, const ItemNames& items) {
  std::string out;
  out.reserve(40 + user.embedding.size() * 4 + (user.history.size() + user.list.size()) * 12);
  AppendChangelogUser(user, items, &out);
  return out;
}

bool DecodeChangelogUser(std::string_view in, const ItemNames& items, UserRecord* out) {
  uint8_t version = 0;
  uint32_t dim = 0;
  if (!GetFixed(&in, &version) || version != kUserVersion) return false;
  if (!GetFixed(&in, &out->events) || !GetFixed(&in, &out->seq) || !GetFixed(&in, &dim)) return false;
  if (in.size() < static_cast<size_t>(dim) * sizeof(float)) return false;
  out->embedding.resize(dim);
  std::memcpy(out->embedding.data(), in.data(), static_cast<size_t>(dim) * sizeof(float));
  in.remove_prefix(static_cast<size_t>(dim) * sizeof(float));
  if (!GetItemNames(&in, items, &out->history)) return false;
  out->purchased.clear();
  out->list.clear();
  out->basket.clear();
  // Not carried: an instance's item ids mean nothing to another. The
  // adopter's blend learns from the user again after their next list.
  out->list_reference = ItemId(UserRecord::kNoItem);
  out->partition = -1;  // known again from the user's next event
  out->experiment.reset();
  if (in.empty()) return true;
  if (!GetItemNames(&in, items, &out->purchased) || !GetItemNames(&in, items, &out->list) ||
      !GetItemNames(&in, items, &out->basket)) {
    return false;
  }
  // The served list keeps its length (its reasons are per position): a refused item holds its place.
  const auto get_served = [&items](std::string_view* i, std::vector<ItemId>* ids) {
    return GetItemNames(i, items, ids, /*keep_refused=*/true);
  };
  return GetExperimentTail(&in, out, get_served) && in.empty();
}

struct StateHandoff::Impl {
  StateHandoffOptions options;
  // The batch's user records, encoded back to back and produced by reference
  // (kafka::Producer::ProduceReferenced); where each one ends. Declared
  // before the producer: they outlive its last flush.
  std::string values;
  std::vector<size_t> value_ends;
  std::unique_ptr<kafka::Producer> producer;
  std::unique_ptr<kafka::PartitionReader> reader;
  std::string value;
  std::shared_ptr<spdlog::logger> log = ModuleLogger("handoff");

  // One offsets marker per partition of the batch (after its users).
  Status WriteMarkers(const std::map<int32_t, int64_t>& from, const std::map<int32_t, int64_t>& next);
};

StateHandoff::StateHandoff(StateHandoffOptions options) : impl_(std::make_unique<Impl>()) {
  impl_->options = std::move(options);
}

StateHandoff::~StateHandoff() = default;

const std::string& StateHandoff::topic() const { return impl_->options.state_topic; }

Status StateHandoff::Start() {
  kafka::ProducerOptions popts;
  popts.properties = impl_->options.producer_properties;
  popts.track_offsets = true;
  popts.warm_topics = {impl_->options.state_topic};
  STREAMREC_RETURN_IF_ERROR(kafka::Producer::Create(popts, &impl_->producer));
  return kafka::PartitionReader::Create(impl_->options.reader_properties, &impl_->reader);
}

Status StateHandoff::Write(const std::vector<ChangedUser>& users, const std::map<int32_t, int64_t>& from,
                           const std::map<int32_t, int64_t>& next, const ItemNames& items) {
  const std::string& topic = impl_->options.state_topic;
  Impl& m = *impl_;
  if (m.producer->outstanding() > 0) {
    // Messages of a failed flush may still point into the buffer: this batch's
    // values are copied instead (the buffer is reused once nothing is in flight).
    for (const ChangedUser& u : users) {
      m.value = EncodeChangelogUser(*u.record, items);
      STREAMREC_RETURN_IF_ERROR(m.producer->Produce(topic, u.external_id, m.value, {}, u.partition));
    }
    return m.WriteMarkers(from, next);
  }
  // All encoded first: the buffer must not move once its values are produced.
  m.values.clear();
  m.value_ends.clear();
  for (const ChangedUser& u : users) {
    AppendChangelogUser(*u.record, items, &m.values);
    m.value_ends.push_back(m.values.size());
  }
  size_t begin = 0;
  for (size_t i = 0; i < users.size(); ++i) {
    const std::string_view value(m.values.data() + begin, m.value_ends[i] - begin);
    STREAMREC_RETURN_IF_ERROR(m.producer->ProduceReferenced(topic, users[i].external_id, value, users[i].partition));
    begin = m.value_ends[i];
  }
  return m.WriteMarkers(from, next);
}

Status StateHandoff::Impl::WriteMarkers(const std::map<int32_t, int64_t>& from, const std::map<int32_t, int64_t>& next) {
  for (const auto& [partition, next_offset] : next) {
    auto f = from.find(partition);
    value = fmt::format(R"({{"writer":"{}","partition":{},"from":{},"next_offset":{}}})", options.writer_id, partition,
                        f == from.end() ? -1 : f->second, next_offset);
    STREAMREC_RETURN_IF_ERROR(producer->Produce(options.state_topic, kChangelogMarkerKey, value, {}, partition));
  }
  return Status::Ok();
}

Status StateHandoff::Flush() { return impl_->producer->Flush(impl_->options.timeout_ms); }

bool StateHandoff::Settled() {
  impl_->producer->Poll(0);
  return impl_->producer->outstanding() == 0;
}

int64_t StateHandoff::Position(int32_t partition) const {
  const int64_t last = impl_->producer->DeliveredOffset(impl_->options.state_topic, partition);
  return last < 0 ? -1 : last + 1;
}

Status StateHandoff::Restore(int32_t partition, int64_t position, const ItemNames& items, const AdoptUsers& adopt,
                             const BetweenReads& between, RestoreOutcome* out) {
  *out = RestoreOutcome();
  kafka::Watermarks marks;
  STREAMREC_RETURN_IF_ERROR(
      impl_->reader->QueryWatermarks(impl_->options.state_topic, partition, impl_->options.timeout_ms, &marks));
  if (marks.high <= position) {  // nothing newer than our own state
    impl_->log->info("{}/{}: nothing to adopt (changelog offsets {}..{}, this instance's state is at {})",
                     impl_->options.state_topic, partition, marks.low, marks.high, position);
    return Status::Ok();
  }
  const int64_t from = std::max(position, marks.low);
  if (from > position && position > 0) {
    impl_->log->warn("{}/{}: offsets {}..{} are gone from the changelog (is it compacted, not deleted?)",
                     impl_->options.state_topic, partition, position, from);
  }
  ChangelogScan scan(impl_->options.writer_id, impl_->options.max_restore_bytes, items, adopt, out);
  kafka::ReadSlices slices;
  slices.records = std::max<int64_t>(1, impl_->options.records_per_read);
  slices.between = [&](bool* stop) {
    STREAMREC_RETURN_IF_ERROR(scan.EndOfSlice());
    if (between) STREAMREC_RETURN_IF_ERROR(between(stop));
    out->stopped = *stop;
    return Status::Ok();
  };
  STREAMREC_RETURN_IF_ERROR(impl_->reader->Read(impl_->options.state_topic, partition, from, marks.high,
                                                impl_->options.timeout_ms,
                                                [&](const kafka::Message& m) { scan.Visit(m); }, slices));
  if (out->stopped) {
    // The chunks committed so far stay harmless: the positions are not
    // committed, so whoever holds the partition next restores it from `position`.
    impl_->log->info("{}/{}: restore stopped after {} users in {} chunks (the partition was revoked, or stopping)",
                     impl_->options.state_topic, partition, out->users, out->chunks);
    return Status::Ok();
  }
  out->changelog_position = marks.high;
  STREAMREC_RETURN_IF_ERROR(scan.Finish());
  if (out->adopted) {
    impl_->log->info("{}/{}: adopted {} users from {} batches of another instance in {} chunks (at most {} KiB held); "
                     "resuming at event offset {}", impl_->options.state_topic, partition, out->users, out->batches,
                     out->chunks, scan.peak_buffered_bytes() >> 10, out->next_event_offset);
  } else {
    impl_->log->info("{}/{}: read offsets {}..{}: only this instance's own batches, nothing to adopt",
                     impl_->options.state_topic, partition, from, marks.high);
  }
  return Status::Ok();
}

Status StateHandoff::Stop() {
  if (!impl_->producer) return Status::Ok();
  return impl_->producer->Flush(impl_->options.timeout_ms);
}

}  // namespace streamrec::pipeline
