#include "kafka/consumer.h"

#include <algorithm>
#include <iterator>
#include <chrono>
#include <map>
#include <stdexcept>
#include <utility>

#include <librdkafka/rdkafka.h>

#include "common/logging.h"
#include "kafka/conf_util.h"

namespace streamrec::kafka {
namespace {

using PartitionList = std::vector<RdKafka::TopicPartition*>;

struct PartitionListDeleter {
  PartitionList list;
  ~PartitionListDeleter() { RdKafka::TopicPartition::destroy(list); }
};

PartitionListDeleter ToPartitionList(const std::vector<TopicPartition>& tps) {
  PartitionListDeleter out;
  for (const TopicPartition& tp : tps) out.list.push_back(RdKafka::TopicPartition::create(tp.topic, tp.partition));
  return out;
}

bool Contains(const std::vector<TopicPartition>& tps, std::string_view topic, int32_t partition) {
  return std::any_of(tps.begin(), tps.end(),
                     [&](const TopicPartition& tp) { return tp.partition == partition && tp.topic == topic; });
}

std::vector<TopicPartition> ToTopicPartitions(const PartitionList& parts) {
  std::vector<TopicPartition> out;
  out.reserve(parts.size());
  for (const auto* p : parts) out.push_back({p->topic(), p->partition()});
  return out;
}

}  // namespace

struct Consumer::Impl : public RdKafka::RebalanceCb {
  // A C callback from librdkafka: nothing may be thrown through it. A failure
  // (the provider threw, the assignment was refused) is kept and returned by
  // the next PollBatch, which stops the consumer's owner cleanly.
  void rebalance_cb(RdKafka::KafkaConsumer* consumer, RdKafka::ErrorCode err, PartitionList& parts) override {
    try {
      if (err == RdKafka::ERR__ASSIGN_PARTITIONS) {
        Assign(consumer, parts);
      } else {
        Revoke(consumer, parts);
      }
    } catch (const std::exception& e) {
      Fail(Status::Internal(std::string("rebalance: ") + e.what()));
    } catch (...) {
      Fail(Status::Internal("rebalance: unknown exception"));
    }
  }

  void Fail(Status s) {
    log->error("{}", s.message());
    if (callback_error.ok()) callback_error = std::move(s);
  }

  void Assign(RdKafka::KafkaConsumer* consumer, PartitionList& parts) {
    for (auto* p : parts) p->set_offset(provider->ResumeOffset({p->topic(), p->partition()}));
    std::string error;
    if (consumer->rebalance_protocol() == "COOPERATIVE") {
      std::unique_ptr<RdKafka::Error> e(consumer->incremental_assign(parts));
      if (e) error = e->str();
    } else if (RdKafka::ErrorCode code = consumer->assign(parts); code != RdKafka::ERR_NO_ERROR) {
      error = RdKafka::err2str(code);
    }
    if (!error.empty()) {  // not ours: never recorded as assigned
      Fail(Status::Unavailable("assigning " + std::to_string(parts.size()) + " partitions failed: " + error));
      return;
    }
    std::vector<TopicPartition> to_pause;
    for (const auto* p : parts) {
      TopicPartition tp{p->topic(), p->partition()};
      SetExpected(tp, p->offset());
      if (std::find(assigned.begin(), assigned.end(), tp) == assigned.end()) assigned.push_back(tp);
      const bool hold = provider->HoldOnAssign(tp);
      if (hold && std::find(held.begin(), held.end(), tp) == held.end()) held.push_back(tp);
      // While the owner is busy in Serve(), new partitions wait paused too.
      if (hold || serving) to_pause.push_back(tp);
      if (serving && !hold) paused_for_serve.push_back(tp);
      log->info("assigned {}/{} from offset {}{}", tp.topic, tp.partition, p->offset(), hold ? ", held" : "");
    }
    if (Status s = SetPaused(consumer, to_pause, true); !s.ok()) Fail(std::move(s));
  }

  // From the beginning means from offset 0: whatever the broker deleted below
  // its log start was never read. From the end, the first message sets the position.
  void SetExpected(const TopicPartition& tp, int64_t offset) {
    const bool known = offset >= 0 || offset == RdKafka::Topic::OFFSET_BEGINNING;
    Expected(tp.topic, tp.partition) = known ? std::max<int64_t>(offset, 0) : kUnknown;
  }

  static Status SetPaused(RdKafka::KafkaConsumer* consumer, const std::vector<TopicPartition>& tps, bool pause) {
    if (tps.empty()) return Status::Ok();
    PartitionListDeleter parts = ToPartitionList(tps);
    const RdKafka::ErrorCode err = pause ? consumer->pause(parts.list) : consumer->resume(parts.list);
    if (err != RdKafka::ERR_NO_ERROR) {
      return Status::Internal(std::string(pause ? "pausing " : "resuming ") + std::to_string(tps.size()) +
                              " partitions: " + RdKafka::err2str(err));
    }
    return Status::Ok();
  }

  // Revocation (or an assignment error): make state durable, then let go.
  // The partitions are let go even when the provider fails.
  void Revoke(RdKafka::KafkaConsumer* consumer, PartitionList& parts) {
    const bool cooperative = consumer->rebalance_protocol() == "COOPERATIVE";
    std::vector<TopicPartition> revoked = ToTopicPartitions(parts);
    try {
      provider->OnRevoked(revoked);
    } catch (const std::exception& e) {
      Fail(Status::Internal(std::string("rebalance: making revoked partitions durable: ") + e.what()));
    }
    if (cooperative) {
      delete consumer->incremental_unassign(parts);
    } else {
      (void)consumer->unassign();
    }
    const auto gone = [&](const TopicPartition& tp) {
      return !cooperative || std::find(revoked.begin(), revoked.end(), tp) != revoked.end();
    };
    std::erase_if(assigned, gone);
    std::erase_if(held, gone);
    std::erase_if(paused_for_serve, gone);
    std::erase_if(deferred, [&](const Message& m) { return !Contains(assigned, m.topic(), m.partition()); });
    for (const TopicPartition& tp : revoked) Expected(tp.topic, tp.partition) = kUnknown;
    revoked_since_poll.insert(revoked_since_poll.end(), revoked.begin(), revoked.end());
    for (const auto& tp : revoked) log->info("revoked {}/{}", tp.topic, tp.partition);
  }

  Status callback_error;  // the first failure inside a callback, returned by PollBatch

  // Whether `m` goes to the caller: not of a held partition, and not before
  // the position its partition continues from (fetched before a seek or a
  // reassignment). Delivered ones are checked for continuity. One lookup of
  // the partition's position: this runs per message.
  bool Deliverable(RdKafka::Message& m) {  // not const: c_ptr() is not
    const std::string_view topic = rd_kafka_topic_name(m.c_ptr()->rkt);
    if (!held.empty() && Contains(held, topic, m.partition())) return false;
    int64_t& next = Expected(topic, m.partition());
    if (next != kUnknown && m.offset() < next) return false;
    CheckContinuity(topic, m, &next);
    return true;
  }

  // A message past the position its partition should have continued from,
  // with the broker's log start past that position too: the offsets between
  // were deleted before they were read. (A gap above the log start is a
  // transaction marker or a compacted record, not a loss.)
  void CheckContinuity(std::string_view topic, const RdKafka::Message& m, int64_t* expected_next) {
    int64_t& next = *expected_next;
    if (next != kUnknown && m.offset() > next) {
      int64_t low = -1, high = -1;
      if (handle->get_watermark_offsets(std::string(topic), m.partition(), &low, &high) == RdKafka::ERR_NO_ERROR &&
          low > next) {
        const int64_t until = std::min(low, m.offset());
        lost += static_cast<uint64_t>(until - next);
        log->error("{}/{}: offsets {}..{} ({} messages) were deleted by the broker before they were read "
                   "(retention or the broker's size limit): those events are lost",
                   topic, m.partition(), next, until - 1, until - next);
      }
    }
    next = m.offset() + 1;
  }

  static constexpr int64_t kUnknown = -1;
  // The next offset each partition should deliver (kUnknown: from its first
  // message on), by topic then partition; looked up by string_view, as the
  // producer's delivered offsets are, so a message costs no allocation.
  int64_t& Expected(std::string_view topic, int32_t partition) {
    auto it = expected.find(topic);
    if (it == expected.end()) it = expected.emplace(std::string(topic), std::vector<int64_t>()).first;
    std::vector<int64_t>& parts = it->second;
    const auto index = static_cast<size_t>(std::max(partition, 0));
    if (index >= parts.size()) parts.resize(index + 1, kUnknown);
    return parts[index];
  }

  std::map<std::string, std::vector<int64_t>, std::less<>> expected;
  uint64_t lost = 0;

  // Messages polled before their partition was revoked must go, even if the
  // partition came straight back: it resumes from the stored offset, so they
  // would be delivered again.
  bool WasRevoked(const Message& m) const {
    return std::any_of(revoked_since_poll.begin(), revoked_since_poll.end(), [&](const TopicPartition& tp) {
      return tp.partition == m.partition() && tp.topic == m.topic();
    });
  }

  PositionProvider* provider = nullptr;
  internal::LogEventCb events;
  std::vector<TopicPartition> assigned;
  std::vector<TopicPartition> held;              // assigned, paused, not yet released
  std::vector<TopicPartition> paused_for_serve;  // paused by Serve(), resumed by the next PollBatch
  bool serving = false;                          // Serve() was called since the last PollBatch
  std::vector<Message> deferred;  // consumed in Serve() (before a pause took effect): delivered first
  std::vector<TopicPartition> revoked_since_poll;
  bool closed = false;
  std::shared_ptr<spdlog::logger> log = ModuleLogger("kafka");
  std::unique_ptr<RdKafka::KafkaConsumer> handle;  // last: destroyed first
};

Consumer::Consumer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Consumer::~Consumer() {
  if (impl_ && impl_->handle && !impl_->closed) (void)Close();
}

Status Consumer::Create(const ConsumerOptions& options, PositionProvider* provider, std::unique_ptr<Consumer>* out) {
  auto impl = std::make_unique<Impl>();
  impl->provider = provider;
  // Positions live with the state; Kafka's committed offsets are for monitoring.
  Properties props = Merge(options.properties, {{"enable.auto.commit", "false"},
                                                {"enable.auto.offset.store", "false"},
                                                {"enable.partition.eof", "false"}});
  std::unique_ptr<RdKafka::Conf> conf;
  STREAMREC_RETURN_IF_ERROR(internal::BuildConf(props, &conf));
  std::string err;
  if (conf->set("rebalance_cb", static_cast<RdKafka::RebalanceCb*>(impl.get()), err) != RdKafka::Conf::CONF_OK ||
      conf->set("event_cb", static_cast<RdKafka::EventCb*>(&impl->events), err) != RdKafka::Conf::CONF_OK) {
    return Status::Internal("consumer callbacks: " + err);
  }
  impl->handle.reset(RdKafka::KafkaConsumer::create(conf.get(), err));
  if (!impl->handle) return Status::InvalidArgument("creating consumer: " + err);
  RdKafka::ErrorCode sub = impl->handle->subscribe(options.topics);
  if (sub != RdKafka::ERR_NO_ERROR) return Status::InvalidArgument("subscribe: " + RdKafka::err2str(sub));
  out->reset(new Consumer(std::move(impl)));
  return Status::Ok();
}

Status Consumer::PollBatch(size_t max_messages, int timeout_ms, std::vector<Message>* out, int linger_ms) {
  const size_t first = out->size();
  if (impl_->serving) {
    impl_->serving = false;
    STREAMREC_RETURN_IF_ERROR(Impl::SetPaused(impl_->handle.get(), impl_->paused_for_serve, false));
    impl_->paused_for_serve.clear();
  }
  if (!impl_->deferred.empty()) {
    const size_t n = std::min(max_messages, impl_->deferred.size());
    std::move(impl_->deferred.begin(), impl_->deferred.begin() + static_cast<std::ptrdiff_t>(n),
              std::back_inserter(*out));
    impl_->deferred.erase(impl_->deferred.begin(), impl_->deferred.begin() + static_cast<std::ptrdiff_t>(n));
    if (n == max_messages) return Status::Ok();
  }
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  bool lingering = false;
  while (out->size() - first < max_messages) {
    if (!lingering && out->size() > first) {
      lingering = true;
      deadline = std::min(deadline, std::chrono::steady_clock::now() + std::chrono::milliseconds(linger_ms));
    }
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    const int wait_ms = static_cast<int>(std::max<int64_t>(0, left.count()));
    std::unique_ptr<RdKafka::Message> m(impl_->handle->consume(wait_ms));
    if (!impl_->callback_error.ok()) return std::exchange(impl_->callback_error, Status::Ok());
    if (!impl_->revoked_since_poll.empty()) {
      auto it = std::remove_if(out->begin() + static_cast<std::ptrdiff_t>(first), out->end(),
                               [&](const Message& msg) { return impl_->WasRevoked(msg); });
      out->erase(it, out->end());
      impl_->revoked_since_poll.clear();
    }
    if (m->err() == RdKafka::ERR_NO_ERROR) {
      if (impl_->Deliverable(*m)) out->push_back(internal::WrapMessage(std::move(m)));
      continue;
    }
    if (m->err() == RdKafka::ERR__TIMED_OUT) {
      if (wait_ms == 0) break;
      continue;
    }
    if (m->err() == RdKafka::ERR__FATAL) return Status::Internal("consumer fatal error: " + m->errstr());
    impl_->log->warn("consume: {}", m->errstr());
    if (wait_ms == 0) break;
  }
  return Status::Ok();
}

Status Consumer::Serve(int timeout_ms) {
  if (!impl_->serving) {
    impl_->serving = true;
    impl_->paused_for_serve.clear();
    for (const TopicPartition& tp : impl_->assigned) {
      if (!Contains(impl_->held, tp.topic, tp.partition)) impl_->paused_for_serve.push_back(tp);
    }
    STREAMREC_RETURN_IF_ERROR(Impl::SetPaused(impl_->handle.get(), impl_->paused_for_serve, true));
  }
  std::unique_ptr<RdKafka::Message> m(impl_->handle->consume(timeout_ms));
  if (!impl_->callback_error.ok()) return std::exchange(impl_->callback_error, Status::Ok());
  impl_->revoked_since_poll.clear();  // Revoke() dropped their deferred messages
  if (m->err() == RdKafka::ERR_NO_ERROR) {
    if (impl_->Deliverable(*m)) impl_->deferred.push_back(internal::WrapMessage(std::move(m)));
  } else if (m->err() == RdKafka::ERR__FATAL) {
    return Status::Internal("consumer fatal error: " + m->errstr());
  } else if (m->err() != RdKafka::ERR__TIMED_OUT) {
    impl_->log->warn("consume: {}", m->errstr());
  }
  return Status::Ok();
}

Status Consumer::Release(const TopicPartition& tp, int64_t offset) {
  auto it = std::find(impl_->held.begin(), impl_->held.end(), tp);
  if (it == impl_->held.end()) return Status::Ok();
  std::unique_ptr<RdKafka::TopicPartition> part(RdKafka::TopicPartition::create(tp.topic, tp.partition, offset));
  // Blocking: the position must be set before the partition resumes. The
  // seek also drops whatever was fetched from the provisional offset.
  if (RdKafka::ErrorCode err = impl_->handle->seek(*part, kSeekTimeoutMs); err != RdKafka::ERR_NO_ERROR) {
    return Status::Unavailable("seeking " + tp.topic + "/" + std::to_string(tp.partition) + " to " +
                               std::to_string(offset) + ": " + RdKafka::err2str(err));
  }
  impl_->held.erase(it);
  impl_->SetExpected(tp, offset);
  if (impl_->serving) {
    impl_->paused_for_serve.push_back(tp);  // resumed with the others by the next PollBatch
  } else {
    STREAMREC_RETURN_IF_ERROR(Impl::SetPaused(impl_->handle.get(), {tp}, false));
  }
  impl_->log->info("released {}/{} at offset {}", tp.topic, tp.partition, offset);
  return Status::Ok();
}

const std::vector<TopicPartition>& Consumer::Held() const { return impl_->held; }

std::vector<TopicPartition> Consumer::Assignment() const { return impl_->assigned; }

uint64_t Consumer::lost_offsets() const { return impl_->lost; }

std::vector<std::pair<int32_t, int64_t>> Consumer::Lags() const {
  std::vector<std::pair<int32_t, int64_t>> out;
  if (impl_->assigned.empty()) return out;
  PartitionListDeleter parts = ToPartitionList(impl_->assigned);
  if (impl_->handle->position(parts.list) != RdKafka::ERR_NO_ERROR) return out;
  for (const RdKafka::TopicPartition* tp : parts.list) {
    int64_t low = 0;
    int64_t high = 0;
    if (tp->offset() < 0) continue;
    if (impl_->handle->get_watermark_offsets(tp->topic(), tp->partition(), &low, &high) != RdKafka::ERR_NO_ERROR ||
        high < 0) {
      continue;
    }
    out.emplace_back(tp->partition(), std::max<int64_t>(0, high - tp->offset()));
  }
  return out;
}

void Consumer::CommitForMonitoring(const std::vector<std::pair<TopicPartition, int64_t>>& positions) {
  if (positions.empty()) return;
  PartitionListDeleter parts;
  for (const auto& [tp, offset] : positions) {
    parts.list.push_back(RdKafka::TopicPartition::create(tp.topic, tp.partition, offset));
  }
  RdKafka::ErrorCode err = impl_->handle->commitAsync(parts.list);
  if (err != RdKafka::ERR_NO_ERROR) impl_->log->debug("monitoring commit: {}", RdKafka::err2str(err));
}

Status Consumer::Close() {
  if (impl_->closed) return Status::Ok();
  impl_->closed = true;
  RdKafka::ErrorCode err = impl_->handle->close();
  if (err != RdKafka::ERR_NO_ERROR) return Status::Unavailable("closing consumer: " + RdKafka::err2str(err));
  return Status::Ok();
}

}  // namespace streamrec::kafka
