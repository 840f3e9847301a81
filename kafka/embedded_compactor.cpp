#include "kafka/embedded_compactor.h"

#include <atomic>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>
#include <utility>

#include <fmt/format.h>

#include "common/logging.h"
#include "kafka/consumer.h"
#include "kafka/follower.h"
#include "kafka/producer.h"

namespace streamrec::kafka {
namespace {

// What a record costs in the mock's log beyond its key and value (record and
// batch headers), counted high: the copies are then made a little early.
constexpr size_t kRecordOverhead = 80;

// One partition of a compacted topic as the compactor sees it. Positions are
// bytes written to the partition since the compactor began reading it.
class PartitionLog {
 public:
  struct Copy {
    std::string key;
    std::optional<std::string> value;  // nullopt: a tombstone
  };

  // A record read at the log's end. Appends to *copies what must be produced
  // again at once (a copy that landed after a newer record of its key).
  void Apply(std::string_view key, std::string_view value, std::vector<Copy>* copies) {
    end_ += key.size() + value.size() + kRecordOverhead;
    auto it = latest_.find(key);
    if (it == latest_.end()) {
      if (value.empty()) return;  // a tombstone of a key gone already
      it = latest_.emplace(std::string(key), Latest{}).first;
    }
    Latest& e = it->second;
    live_ -= e.bytes;
    const bool own_copy = e.copy.has_value() && *e.copy == value;
    if (own_copy) {
      e.copy.reset();
      if (!e.deleted && e.value != value) {  // it landed after a newer record: copy that one
        copies->push_back({it->first, e.value});
        e.copy = e.value;
      } else if (e.deleted) {  // it landed after the key's tombstone: delete again
        copies->push_back({it->first, std::nullopt});
      }
    } else {
      e.deleted = value.empty();
      e.value.assign(value);
    }
    e.pos = end_;
    e.bytes = e.deleted ? 0 : it->first.size() + e.value.size() + kRecordOverhead;
    live_ += e.bytes;
    if (e.deleted && !e.copy) {
      latest_.erase(it);
      return;
    }
    order_.push_back({end_, it->first});
  }

  // Appends to *copies the latest records that have aged past `age` bytes.
  void Aged(size_t age, std::vector<Copy>* copies) {
    while (!order_.empty() && end_ - order_.front().first > age) {
      auto it = latest_.find(order_.front().second);
      if (it != latest_.end() && it->second.pos == order_.front().first && !it->second.copy && !it->second.deleted) {
        copies->push_back({it->first, it->second.value});
        it->second.copy = it->second.value;
      }
      order_.pop_front();
    }
  }

  size_t live_bytes() const { return live_; }
  uint64_t written() const { return end_; }
  // False if `offset` is past the next one expected: records were dropped
  // before they were read (the mock has no gaps otherwise).
  bool Continues(int64_t offset) {
    const bool continues = offset <= next_offset_;
    next_offset_ = offset + 1;
    return continues;
  }
  int64_t next_offset() const { return next_offset_; }

 private:
  struct Latest {
    uint64_t pos = 0;     // where its latest record ends
    size_t bytes = 0;     // counted in live_
    std::string value;
    bool deleted = false;  // a tombstone came while a copy was on its way
    std::optional<std::string> copy;  // the value of a copy on its way
  };
  struct Hash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>()(s); }
  };
  std::unordered_map<std::string, Latest, Hash, std::equal_to<>> latest_;
  std::deque<std::pair<uint64_t, std::string>> order_;  // (pos, key) of records read, oldest first
  uint64_t end_ = 0;
  size_t live_ = 0;
  int64_t next_offset_ = 0;
};

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
    const Properties properties = {{"bootstrap.servers", options.bootstrap}, {"socket.nagle.disable", "true"}};
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
    popts.idempotent = false;
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
          log_of.Apply(m.key(), m.payload(), &copy);
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
      STREAMREC_RETURN_IF_ERROR(producer->Produce(topic, r.key, value, {}, partition));
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
