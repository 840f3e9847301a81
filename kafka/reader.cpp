#include "kafka/reader.h"

#include <chrono>

#include "kafka/conf_util.h"

namespace streamrec::kafka {

struct PartitionReader::Impl {
  internal::LogEventCb events;
  std::unique_ptr<RdKafka::KafkaConsumer> handle;  // last: destroyed first
};

PartitionReader::PartitionReader(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

PartitionReader::~PartitionReader() {
  if (impl_ && impl_->handle) (void)impl_->handle->close();
}

Status PartitionReader::Create(const Properties& properties, std::unique_ptr<PartitionReader>* out) {
  auto impl = std::make_unique<Impl>();
  // No group is joined (assign only); group.id is set because the C++ consumer requires one.
  Properties props = Merge(properties, {{"group.id", "streamrec-partition-reader"},
                                        {"enable.auto.commit", "false"},
                                        {"enable.partition.eof", "false"}});
  std::unique_ptr<RdKafka::Conf> conf;
  STREAMREC_RETURN_IF_ERROR(internal::BuildConf(props, &conf));
  std::string err;
  if (conf->set("event_cb", static_cast<RdKafka::EventCb*>(&impl->events), err) != RdKafka::Conf::CONF_OK) {
    return Status::Internal("reader callbacks: " + err);
  }
  impl->handle.reset(RdKafka::KafkaConsumer::create(conf.get(), err));
  if (!impl->handle) return Status::InvalidArgument("creating partition reader: " + err);
  out->reset(new PartitionReader(std::move(impl)));
  return Status::Ok();
}

namespace {

// Errors that mean librdkafka asked a broker that no longer leads the partition.
bool StaleLeader(RdKafka::ErrorCode err) {
  return err == RdKafka::ERR_NOT_LEADER_FOR_PARTITION || err == RdKafka::ERR_LEADER_NOT_AVAILABLE ||
         err == RdKafka::ERR_FENCED_LEADER_EPOCH || err == RdKafka::ERR_UNKNOWN_LEADER_EPOCH;
}

// Asks for the topic's metadata, which refreshes librdkafka's cached leaders.
void RefreshLeaders(RdKafka::KafkaConsumer* handle, const std::string& topic, int timeout_ms) {
  std::string err;
  std::unique_ptr<RdKafka::Topic> t(RdKafka::Topic::create(handle, topic, nullptr, err));
  RdKafka::Metadata* md = nullptr;
  if (t) (void)handle->metadata(false, t.get(), &md, timeout_ms);
  std::unique_ptr<RdKafka::Metadata> owned(md);  // only the refresh matters
}

}  // namespace

Status PartitionReader::QueryWatermarks(const std::string& topic, int32_t partition, int timeout_ms,
                                        Watermarks* out) {
  RdKafka::ErrorCode err = impl_->handle->query_watermark_offsets(topic, partition, &out->low, &out->high, timeout_ms);
  if (StaleLeader(err)) {
    // librdkafka (2.0.2) sends the query to the leader it cached and does not
    // refresh it on this error: after a leader moved, every retry would ask the
    // old one forever (seen on a three-broker cluster, tests/e2e/test_cluster_kafka.py).
    RefreshLeaders(impl_->handle.get(), topic, timeout_ms);
    err = impl_->handle->query_watermark_offsets(topic, partition, &out->low, &out->high, timeout_ms);
  }
  if (err != RdKafka::ERR_NO_ERROR) {
    return Status::Unavailable("watermarks of " + topic + "/" + std::to_string(partition) + ": " +
                               RdKafka::err2str(err));
  }
  return Status::Ok();
}

Status PartitionReader::Read(const std::string& topic, int32_t partition, int64_t from, int64_t until,
                             int timeout_ms, const std::function<void(const Message&)>& visit, const ReadSlices& slices) {
  if (from >= until) return Status::Ok();
  std::unique_ptr<RdKafka::TopicPartition> tp(RdKafka::TopicPartition::create(topic, partition, from));
  std::vector<RdKafka::TopicPartition*> parts{tp.get()};
  if (RdKafka::ErrorCode err = impl_->handle->assign(parts); err != RdKafka::ERR_NO_ERROR) {
    return Status::Unavailable("assigning " + topic + ": " + RdKafka::err2str(err));
  }
  const auto patience = std::chrono::milliseconds(timeout_ms);
  auto deadline = std::chrono::steady_clock::now() + patience;
  int64_t next = from;
  int64_t slice_end = slices.records > 0 ? from + slices.records : until;
  Status result;
  while (next < until && result.ok()) {
    if (next >= slice_end) {  // a slice is done and more follow
      bool stop = false;
      result = slices.between ? slices.between(&stop) : Status::Ok();
      if (stop) break;
      slice_end = next + slices.records;
      deadline = std::chrono::steady_clock::now() + patience;  // the caller's time is not the broker's
      continue;
    }
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      result = Status::Unavailable("read " + topic + "/" + std::to_string(partition) + " up to offset " +
                                   std::to_string(next) + " of " + std::to_string(until) + ": nothing for " +
                                   std::to_string(timeout_ms) + " ms");
      break;
    }
    std::unique_ptr<RdKafka::Message> m(impl_->handle->consume(static_cast<int>(std::min<int64_t>(left.count(), 200))));
    if (m->err() == RdKafka::ERR__TIMED_OUT) continue;
    if (m->err() != RdKafka::ERR_NO_ERROR) {
      if (m->err() == RdKafka::ERR__FATAL) result = Status::Internal("reading " + topic + ": " + m->errstr());
      continue;  // transient; logged by the event callback
    }
    if (m->offset() >= until) break;
    if (m->offset() < next) continue;  // fetched before an earlier read's position: not this range
    next = m->offset() + 1;
    deadline = std::chrono::steady_clock::now() + patience;
    visit(internal::WrapMessage(std::move(m)));
  }
  (void)impl_->handle->unassign();
  return result;
}

}  // namespace streamrec::kafka
