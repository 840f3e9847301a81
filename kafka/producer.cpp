#include "kafka/producer.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <map>
#include <optional>
#include <string_view>
#include <vector>

#include <librdkafka/rdkafka.h>

#include "common/logging.h"
#include "kafka/conf_util.h"

namespace streamrec::kafka {

int32_t KeyPartition(std::string_view key, int32_t partitions) {
  // The partitioner reads only the key and the count (no topic handle).
  return rd_kafka_msg_partitioner_murmur2(nullptr, key.data(), key.size(), partitions, nullptr, nullptr);
}

struct Producer::Impl : public RdKafka::DeliveryReportCb {
  // A C callback from librdkafka: nothing may be thrown through it. A report
  // that cannot be handled (on_delivery threw, allocation failed) counts as a
  // failed delivery, so the next Flush fails and the caller retries.
  void dr_cb(RdKafka::Message& message) override {
    try {
      if (message.err() == RdKafka::ERR_NO_ERROR) {
        delivered.fetch_add(1, std::memory_order_relaxed);
        if (track_offsets) Track(rd_kafka_topic_name(message.c_ptr()->rkt), message.partition(), message.offset());
        if (on_delivery) Report(message);
        return;
      }
      if (on_failure) ReportFailure(message);
      Failed(message.errstr());
    } catch (const std::exception& e) {
      Failed(std::string("delivery report: ") + e.what());
    } catch (...) {
      Failed("delivery report: unknown exception");
    }
  }

  void Failed(std::string error) noexcept {
    failed.fetch_add(1, std::memory_order_relaxed);
    failed_since_flush.fetch_add(1, std::memory_order_relaxed);
    try {
      last_error = std::move(error);
    } catch (...) {  // keeps the previous text; the count says enough
    }
  }

  internal::LogEventCb events;
  std::atomic<uint64_t> delivered{0};
  std::atomic<uint64_t> failed{0};
  std::atomic<uint64_t> failed_since_flush{0};
  std::string last_error;
  int queue_full_timeout_ms = 30000;
  bool track_offsets = false;
  std::function<void(const Delivery&)> on_delivery;
  // Topic -> highest delivered offset per partition (-1: none). Delivery
  // reports are served on the owning thread (Poll/Flush), so no lock; the
  // lookup by string_view allocates nothing per message.
  std::map<std::string, std::vector<int64_t>, std::less<>> offsets;

  void Track(std::string_view topic, int32_t partition, int64_t offset) {
    auto it = offsets.find(topic);
    if (it == offsets.end()) it = offsets.emplace(std::string(topic), std::vector<int64_t>()).first;
    std::vector<int64_t>& highest = it->second;
    if (partition < 0) return;
    if (highest.size() <= static_cast<size_t>(partition)) highest.resize(static_cast<size_t>(partition) + 1, -1);
    highest[static_cast<size_t>(partition)] = std::max(highest[static_cast<size_t>(partition)], offset);
  }
  void Report(RdKafka::Message& message) const {
    const auto* key = static_cast<const char*>(message.key_pointer());
    on_delivery({rd_kafka_topic_name(message.c_ptr()->rkt), key ? std::string_view(key, message.key_len()) : "",
                 message.partition(), message.offset()});
  }
  void ReportFailure(RdKafka::Message& message) const {
    const auto* key = static_cast<const char*>(message.key_pointer());
    const auto* value = static_cast<const char*>(message.payload());
    // The C API's views into the message's own headers (the C++ API copies them).
    std::vector<Header> headers;
    rd_kafka_headers_t* all = nullptr;
    if (rd_kafka_message_headers(message.c_ptr(), &all) == RD_KAFKA_RESP_ERR_NO_ERROR) {
      const char* name = nullptr;
      const void* v = nullptr;
      size_t size = 0;
      for (size_t i = 0; rd_kafka_header_get_all(all, i, &name, &v, &size) == RD_KAFKA_RESP_ERR_NO_ERROR; ++i) {
        headers.push_back({name, v ? std::string_view(static_cast<const char*>(v), size) : std::string_view()});
      }
    }
    const std::string error = message.errstr();
    const bool too_large =
        message.err() == RdKafka::ERR_MSG_SIZE_TOO_LARGE || message.err() == RdKafka::ERR_RECORD_LIST_TOO_LARGE;
    on_failure({rd_kafka_topic_name(message.c_ptr()->rkt), key ? std::string_view(key, message.key_len()) : "",
                value ? std::string_view(value, message.len()) : "", headers, error, too_large});
  }
  std::function<void(const FailedDelivery&)> on_failure;
  std::shared_ptr<spdlog::logger> log = ModuleLogger("kafka");
  // Declared last: destroyed first, while the callbacks above still exist.
  std::unique_ptr<RdKafka::Producer> handle;
};

namespace {

// Asks the broker for each topic's metadata now (see ProducerOptions::warm_topics).
void WarmTopics(RdKafka::Producer* handle, const std::vector<std::string>& topics, spdlog::logger* log) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(1000);
  for (const std::string& topic : topics) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    std::string error;
    std::unique_ptr<RdKafka::Topic> t(RdKafka::Topic::create(handle, topic, nullptr, error));
    RdKafka::Metadata* raw = nullptr;
    const RdKafka::ErrorCode err =
        t ? handle->metadata(false, t.get(), &raw, static_cast<int>(std::max<int64_t>(1, left.count())))
          : RdKafka::ERR__INVALID_ARG;
    std::unique_ptr<RdKafka::Metadata> metadata(raw);
    if (err != RdKafka::ERR_NO_ERROR) {
      log->warn("looking up {} at start: {} (its first deliveries wait for the broker)", topic,
                t ? RdKafka::err2str(err) : error);
      return;  // the broker is not answering: do not wait for it again per topic
    }
  }
}

}  // namespace

Producer::Producer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Producer::~Producer() {
  if (!impl_ || !impl_->handle) return;
  if (impl_->handle->flush(5000) != RdKafka::ERR_NO_ERROR) {
    impl_->log->warn("producer closed with {} undelivered messages", impl_->handle->outq_len());
  }
}

Status Producer::Create(const ProducerOptions& options, std::unique_ptr<Producer>* out) {
  auto impl = std::make_unique<Impl>();
  Properties props = options.properties;
  if (options.idempotent) props = Merge({{"enable.idempotence", "true"}}, props);
  std::unique_ptr<RdKafka::Conf> conf;
  STREAMREC_RETURN_IF_ERROR(internal::BuildConf(props, &conf));
  std::string err;
  if (conf->set("dr_cb", static_cast<RdKafka::DeliveryReportCb*>(impl.get()), err) != RdKafka::Conf::CONF_OK ||
      conf->set("event_cb", static_cast<RdKafka::EventCb*>(&impl->events), err) != RdKafka::Conf::CONF_OK) {
    return Status::Internal("producer callbacks: " + err);
  }
  impl->handle.reset(RdKafka::Producer::create(conf.get(), err));
  if (!impl->handle) return Status::InvalidArgument("creating producer: " + err);
  impl->queue_full_timeout_ms = options.queue_full_timeout_ms;
  impl->track_offsets = options.track_offsets;
  impl->on_delivery = options.on_delivery;
  impl->on_failure = options.on_failure;
  WarmTopics(impl->handle.get(), options.warm_topics, impl->log.get());
  out->reset(new Producer(std::move(impl)));
  return Status::Ok();
}

namespace {

struct HeadersDeleter {
  void operator()(RdKafka::Headers* h) const { delete h; }
};

std::unique_ptr<RdKafka::Headers, HeadersDeleter> MakeHeaders(std::span<const Header> headers) {
  if (headers.empty()) return nullptr;
  std::unique_ptr<RdKafka::Headers, HeadersDeleter> out(RdKafka::Headers::create());
  for (const Header& h : headers) out->add(std::string(h.name), h.value.data(), h.value.size());
  return out;
}

}  // namespace

Status Producer::Produce(std::string_view topic, std::string_view key, std::string_view value,
                         std::span<const Header> headers, int32_t partition) {
  return ProduceWithFlags(topic, key, value, headers, partition, RdKafka::Producer::RK_MSG_COPY);
}

Status Producer::ProduceReferenced(std::string_view topic, std::string_view key, std::string_view value,
                                   int32_t partition) {
  return ProduceWithFlags(topic, key, value, {}, partition, 0);
}

Status Producer::ProduceWithFlags(std::string_view topic, std::string_view key, std::string_view value,
                                  std::span<const Header> headers, int32_t partition, int msgflags) {
  auto owned_headers = MakeHeaders(headers);
  const std::string topic_name(topic);
  std::optional<std::chrono::steady_clock::time_point> start;  // of a full queue (read once one is: ~1M calls/s)
  for (;;) {
    RdKafka::ErrorCode err = impl_->handle->produce(
        topic_name, partition, msgflags, const_cast<char*>(value.data()), value.size(),
        key.empty() ? nullptr : key.data(), key.size(), 0, owned_headers.get(), nullptr);
    if (err == RdKafka::ERR_NO_ERROR) {
      (void)owned_headers.release();  // librdkafka owns the headers now
      return Status::Ok();
    }
    if (err != RdKafka::ERR__QUEUE_FULL) {
      return Status::InvalidArgument("produce to " + topic_name + ": " + RdKafka::err2str(err));
    }
    if (!start) start = std::chrono::steady_clock::now();
    auto waited = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - *start);
    if (waited.count() > impl_->queue_full_timeout_ms) {
      return Status::ResourceExhausted("producer queue full for " + std::to_string(waited.count()) + " ms");
    }
    impl_->handle->poll(50);  // serve delivery reports to make room
  }
}

int Producer::Poll(int timeout_ms) { return impl_->handle->poll(timeout_ms); }

Status Producer::Flush(int timeout_ms) {
  RdKafka::ErrorCode err = impl_->handle->flush(timeout_ms);
  const uint64_t failed = impl_->failed_since_flush.exchange(0);
  if (err == RdKafka::ERR__TIMED_OUT) {
    return Status::Unavailable(std::to_string(impl_->handle->outq_len()) + " messages undelivered after " +
                               std::to_string(timeout_ms) + " ms");
  }
  if (failed > 0) {
    return Status::Unavailable(std::to_string(failed) + " messages failed delivery: " + impl_->last_error);
  }
  return Status::Ok();
}

uint64_t Producer::delivered() const { return impl_->delivered.load(); }
uint64_t Producer::failed() const { return impl_->failed.load(); }
int Producer::outstanding() const { return impl_->handle->outq_len(); }

}  // namespace streamrec::kafka

namespace streamrec::kafka {

int64_t Producer::DeliveredOffset(std::string_view topic, int32_t partition) const {
  auto it = impl_->offsets.find(topic);
  if (it == impl_->offsets.end() || partition < 0 || static_cast<size_t>(partition) >= it->second.size()) return -1;
  return it->second[static_cast<size_t>(partition)];
}

}  // namespace streamrec::kafka
