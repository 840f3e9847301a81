#include "kafka/follower.h"

#include <chrono>

#include "common/logging.h"
#include "kafka/conf_util.h"

namespace streamrec::kafka {

struct TopicFollower::Impl {
  // Looks the topic up and assigns all of its partitions; false while unknown.
  bool TryAssign() {
    const auto now = std::chrono::steady_clock::now();
    if (now < next_lookup) return false;
    next_lookup = now + std::chrono::seconds(5);
    std::unique_ptr<RdKafka::Topic> t(RdKafka::Topic::create(handle.get(), topic, nullptr, error_text));
    RdKafka::Metadata* raw = nullptr;
    if (!t || handle->metadata(false, t.get(), &raw, 1000) != RdKafka::ERR_NO_ERROR) return false;
    std::unique_ptr<RdKafka::Metadata> metadata(raw);
    std::vector<RdKafka::TopicPartition*> parts;
    for (const RdKafka::TopicMetadata* tm : *metadata->topics()) {
      if (tm->topic() != topic || tm->err() != RdKafka::ERR_NO_ERROR) continue;
      for (const RdKafka::PartitionMetadata* pm : *tm->partitions()) {
        parts.push_back(RdKafka::TopicPartition::create(topic, pm->id(), resume(pm->id())));
      }
    }
    if (parts.empty()) return false;
    const RdKafka::ErrorCode err = handle->assign(parts);
    count = parts.size();
    RdKafka::TopicPartition::destroy(parts);
    if (err != RdKafka::ERR_NO_ERROR) {
      log->warn("assigning {}: {}", topic, RdKafka::err2str(err));
      count = 0;
      return false;
    }
    log->info("following {} ({} partitions)", topic, count);
    return true;
  }

  std::string topic;
  ResumeFn resume;
  size_t count = 0;
  std::string error_text;
  std::chrono::steady_clock::time_point next_lookup{};
  internal::LogEventCb events;
  std::shared_ptr<spdlog::logger> log = ModuleLogger("kafka");
  std::unique_ptr<RdKafka::KafkaConsumer> handle;  // last: destroyed first
};

TopicFollower::TopicFollower(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

TopicFollower::~TopicFollower() {
  if (impl_ && impl_->handle) (void)impl_->handle->close();
}

Status TopicFollower::Create(const Properties& properties, std::string topic, ResumeFn resume,
                             std::unique_ptr<TopicFollower>* out) {
  auto impl = std::make_unique<Impl>();
  impl->topic = std::move(topic);
  impl->resume = std::move(resume);
  // No group is joined (assign only); group.id is set because the C++ consumer requires one.
  Properties props = Merge(properties, {{"group.id", "streamrec-follower"},
                                        {"enable.auto.commit", "false"},
                                        {"enable.partition.eof", "false"},
                                        {"auto.offset.reset", "earliest"}});
  std::unique_ptr<RdKafka::Conf> conf;
  STREAMREC_RETURN_IF_ERROR(internal::BuildConf(props, &conf));
  std::string err;
  if (conf->set("event_cb", static_cast<RdKafka::EventCb*>(&impl->events), err) != RdKafka::Conf::CONF_OK) {
    return Status::Internal("follower callbacks: " + err);
  }
  impl->handle.reset(RdKafka::KafkaConsumer::create(conf.get(), err));
  if (!impl->handle) return Status::InvalidArgument("creating follower of " + impl->topic + ": " + err);
  impl->TryAssign();
  out->reset(new TopicFollower(std::move(impl)));
  return Status::Ok();
}

Status TopicFollower::Poll(size_t max_messages, int timeout_ms, std::vector<Message>* out) {
  if (impl_->count == 0 && !impl_->TryAssign()) return Status::Ok();
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  for (size_t n = 0; n < max_messages; ++n) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    std::unique_ptr<RdKafka::Message> m(impl_->handle->consume(static_cast<int>(std::max<int64_t>(0, left.count()))));
    if (m->err() == RdKafka::ERR_NO_ERROR) {
      out->push_back(internal::WrapMessage(std::move(m)));
      continue;
    }
    if (m->err() == RdKafka::ERR__FATAL) return Status::Internal("following " + impl_->topic + ": " + m->errstr());
    break;  // timed out, or a transient error (logged by the event callback)
  }
  return Status::Ok();
}

size_t TopicFollower::partitions() const { return impl_->count; }

Status TopicFollower::Watermarks(int32_t partition, int timeout_ms, int64_t* low, int64_t* high) {
  const RdKafka::ErrorCode err = impl_->handle->query_watermark_offsets(impl_->topic, partition, low, high, timeout_ms);
  if (err == RdKafka::ERR_NO_ERROR) return Status::Ok();
  const std::string what = "the end of " + impl_->topic + "/" + std::to_string(partition) + ": " + RdKafka::err2str(err);
  if (err == RdKafka::ERR__TIMED_OUT || err == RdKafka::ERR__TRANSPORT || err == RdKafka::ERR_LEADER_NOT_AVAILABLE ||
      err == RdKafka::ERR_NOT_LEADER_FOR_PARTITION || err == RdKafka::ERR__ALL_BROKERS_DOWN) {
    return Status::Unavailable(what);
  }
  return Status::Internal(what);
}

}  // namespace streamrec::kafka
