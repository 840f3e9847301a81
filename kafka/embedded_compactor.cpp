#include "kafka/embedded_compactor.h"

#include <atomic>
#include <charconv>
#include <map>
#include <mutex>
#include <optional>
#include <thread>
#include <utility>

#include <fmt/format.h>

#include "common/logging.h"
#include "kafka/consumer.h"
#include "kafka/follower.h"
#include "kafka/partition_log.h"
#include "kafka/producer.h"

namespace streamrec::kafka {

using internal::PartitionLog;

namespace {

// The original a compactor's copy copies (its kCopyHeader), nullopt for an original.
std::optional<int64_t> CopyOf(const Message& m) {
  const std::optional<std::string_view> header = m.header(PartitionLog::kCopyHeader);
  int64_t origin = 0;
  if (!header || std::from_chars(header->data(), header->data() + header->size(), origin).ec != std::errc()) {
    return std::nullopt;
  }
  return origin;
}

}  // namespace

struct EmbeddedCompactor::Impl {
  EmbeddedCompactorOptions options;
  std::thread thread;
  std::atomic<bool> stop{false};
  mutable std::mutex mu;
  Status status;  // guarded by mu
  std::shared_ptr<spdlog::logger> log = ModuleLogger("broker");

  void Fail(Status s) {
    log->error("{}", s.message());
    std::lock_guard<std::mutex> lock(mu);
    status = std::move(s);
  }

  // The compactor's thread: owns the followers, the producer and the logs.
  void Run() {
    try {
      if (Status s = Loop(); !s.ok()) Fail(std::move(s));
    } catch (const std::exception& e) {  // never across the thread's entry
      Fail(Status::Internal(std::string("embedded broker compaction: ") + e.what()));
    }
  }

  Status Loop() {
    // After the broker is down a while, librdkafka's reconnect back-off grows
    // to its 10 s default; the writers may reconnect first and turn a busy
    // partition's 5 MB log over before the compactor reads it (then it stops,
    // FellBehind). Its broker is in the same process: retrying often is cheap.
    const Properties properties = {{"bootstrap.servers", options.bootstrap},
                                   {"socket.nagle.disable", "true"},
                                   {"reconnect.backoff.max.ms", "200"}};
    // The mock holds a fetch that finds nothing for the whole wait, and a
    // partition's ~5 MB can turn over in a second under a backlog: short
    // waits and whole-log fetches keep the compactor close behind the writers.
    const Properties reading = Merge(properties, {{"fetch.wait.max.ms", "5"},
                                                  {"max.partition.fetch.bytes", std::to_string(options.partition_bytes)}});
    std::vector<std::unique_ptr<TopicFollower>> followers;
    for (const std::string& topic : options.topics) {
      followers.emplace_back();
      STREAMREC_RETURN_IF_ERROR(TopicFollower::Create(
          reading, topic, [](int32_t) { return kOffsetBeginning; }, &followers.back()));
    }
    ProducerOptions popts;
    popts.properties = Merge(properties, {{"linger.ms", "5"}});
    popts.idempotent = true;  // a retried copy landing twice, or late, would end its key with a stale value
    std::unique_ptr<Producer> producer;
    STREAMREC_RETURN_IF_ERROR(Producer::Create(popts, &producer));
    std::map<std::pair<std::string, int32_t>, PartitionLog> logs;
    std::vector<Message> messages;
    std::vector<PartitionLog::Copy> copy;
    while (!stop.load()) {
      bool any = false;
      for (size_t t = 0; t < followers.size(); ++t) {
        messages.clear();
        STREAMREC_RETURN_IF_ERROR(followers[t]->Poll(10000, any ? 0 : 20, &messages));
        any = any || !messages.empty();
        for (const Message& m : messages) {
          PartitionLog& log_of = logs[{options.topics[t], m.partition()}];
          const int64_t expected = log_of.next_offset();
          if (!log_of.Continues(m.offset())) return FellBehind(options.topics[t], m.partition(), expected, m.offset());
          copy.clear();
          log_of.Apply(m.offset(), m.key(), m.payload(), CopyOf(m), &copy);
          STREAMREC_RETURN_IF_ERROR(Produce(producer.get(), options.topics[t], m.partition(), copy));
        }
      }
      for (auto& [where, log_of] : logs) {
        // Only once the mock has begun dropping records does it matter.
        if (log_of.written() > options.partition_bytes && log_of.live_bytes() > LiveLimit()) {
          return OverCapacity(where, log_of);
        }
        copy.clear();
        log_of.Aged(options.partition_bytes / 2, &copy);
        STREAMREC_RETURN_IF_ERROR(Produce(producer.get(), where.first, where.second, copy));
      }
      producer->Poll(0);
    }
    return producer->Flush(5000);
  }

  Status Produce(Producer* producer, const std::string& topic, int32_t partition,
                 const std::vector<PartitionLog::Copy>& records) {
    for (const PartitionLog::Copy& r : records) {
      const std::string_view value = r.value ? std::string_view(*r.value) : std::string_view();
      const std::string origin = std::to_string(r.origin);
      const Header header{PartitionLog::kCopyHeader, origin};
      STREAMREC_RETURN_IF_ERROR(producer->Produce(topic, r.key, value, {&header, 1}, partition));
    }
    return Status::Ok();
  }

  static Status FellBehind(const std::string& topic, int32_t partition, int64_t expected, int64_t got) {
    return Status::ResourceExhausted(fmt::format(
        "embedded broker: compaction of {} partition {} fell behind: offsets {}..{} were dropped before it read "
        "them (more than half a partition's log written at once); use more partitions or a real Kafka cluster",
        topic, partition, expected, got - 1));
  }

  Status OverCapacity(const std::pair<std::string, int32_t>& where, const PartitionLog& log_of) const {
    return Status::ResourceExhausted(fmt::format(
        "embedded broker: partition {} of compacted topic {} holds {:.1f} MB of latest records, more than the "
        "{:.1f} MB it can keep (40 % of the mock's {:.0f} MB log): readers from the beginning would miss keys. "
        "Use more partitions (streamrec broker --partitions, kafka.partitions) or a real Kafka cluster",
        where.second, where.first, static_cast<double>(log_of.live_bytes()) / 1e6,
        static_cast<double>(LiveLimit()) / 1e6, static_cast<double>(options.partition_bytes) / 1e6));
  }

  size_t LiveLimit() const { return options.partition_bytes * 4 / 10; }
};

EmbeddedCompactor::EmbeddedCompactor(EmbeddedCompactorOptions options) : impl_(std::make_unique<Impl>()) {
  impl_->options = std::move(options);
}

EmbeddedCompactor::~EmbeddedCompactor() { Stop(); }

Status EmbeddedCompactor::Start() {
  if (impl_->thread.joinable()) return Status::Ok();
  impl_->thread = std::thread([this] { impl_->Run(); });
  return Status::Ok();
}

void EmbeddedCompactor::Stop() {
  if (!impl_->thread.joinable()) return;
  impl_->stop = true;
  impl_->thread.join();
}

Status EmbeddedCompactor::status() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->status;
}

}  // namespace streamrec::kafka
