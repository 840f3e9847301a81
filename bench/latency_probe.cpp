#include "bench/latency_probe.h"

#include <algorithm>
#include <chrono>
#include <deque>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <vector>

#include <simdjson.h>

#include "common/clock.h"
#include "common/logging.h"
#include "ingest/event_file.h"
#include "kafka/consumer.h"
#include "kafka/producer.h"

namespace streamrec::bench {
namespace {

using Clock = std::chrono::steady_clock;

// The lists from the topic's end: only what is sent during the probe is measured.
class FromEnd : public kafka::PositionProvider {
 public:
  int64_t ResumeOffset(const kafka::TopicPartition&) override { return kafka::kOffsetEnd; }
  void OnRevoked(const std::vector<kafka::TopicPartition>&) override {}
};

struct SentEvent {
  int32_t partition = 0;
  int64_t offset = 0;
  int64_t produced_ms = 0;
};

// Delivered events, from the sender's thread to the reader's. The produce
// time is the sender's own clock: the embedded broker stamps deliveries with
// a made-up append time.
class Deliveries {
 public:
  // On the sender's thread, as each event is produced.
  void Sent(const std::string& user, int64_t at_ms) { sent_ms_[user].push_back(at_ms); }
  // On the sender's thread (its producer's delivery reports): one user's
  // events are delivered in the order they were sent (one partition, an
  // idempotent producer).
  void Delivered(const kafka::Delivery& d) {
    auto it = sent_ms_.find(std::string(d.key));
    if (it == sent_ms_.end() || it->second.empty()) return;
    const SentEvent event{d.partition, d.offset, it->second.front()};
    it->second.pop_front();
    std::lock_guard<std::mutex> lock(mutex_);
    added_.emplace_back(std::string(d.key), event);
  }
  // Everything added since the last call, in *out (replaced).
  void TakeAll(std::vector<std::pair<std::string, SentEvent>>* out) {
    out->clear();
    std::lock_guard<std::mutex> lock(mutex_);
    out->swap(added_);
  }

 private:
  std::unordered_map<std::string, std::deque<int64_t>> sent_ms_;  // per user, not yet delivered
  std::mutex mutex_;
  std::vector<std::pair<std::string, SentEvent>> added_;  // guarded by mutex_
};

// Matches lists to the events they show, whichever is known first: a list
// can arrive before its event's delivery report is read.
class Matcher {
 public:
  void OnEvent(const std::string& user, const SentEvent& e) {
    User& u = users_[user];
    if (u.list_partition == e.partition && u.list_offset >= e.offset) {
      // Shown already: by this list or an earlier one (the latency is at most this).
      latencies_.push_back(static_cast<double>(u.list_arrived_ms - e.produced_ms));
      return;
    }
    u.waiting.push_back(e);
  }

  void OnList(const kafka::Message& m, int64_t arrived_ms) {
    simdjson::dom::element doc;
    if (parser_.parse(m.payload().data(), m.payload().size()).get(doc) != simdjson::SUCCESS) return;
    std::string_view user;
    int64_t partition = 0;
    int64_t offset = 0;
    if (doc["user_id"].get(user) || doc["source"]["partition"].get(partition) || doc["source"]["offset"].get(offset)) {
      return;
    }
    User& u = users_[std::string(user)];
    if (u.list_partition != partition || offset > u.list_offset) {
      u.list_partition = static_cast<int32_t>(partition);
      u.list_offset = offset;
      u.list_arrived_ms = arrived_ms;
    }
    std::deque<SentEvent>& waiting = u.waiting;
    while (!waiting.empty() && waiting.front().partition == partition && waiting.front().offset <= offset) {
      latencies_.push_back(static_cast<double>(arrived_ms - waiting.front().produced_ms));
      waiting.pop_front();
    }
  }

  std::vector<double>& latencies() { return latencies_; }

 private:
  struct User {
    std::deque<SentEvent> waiting;  // delivered, no list showing them yet
    int32_t list_partition = -1;    // the latest list's source
    int64_t list_offset = -1;
    int64_t list_arrived_ms = 0;
  };
  simdjson::dom::parser parser_;
  std::unordered_map<std::string, User> users_;
  std::vector<double> latencies_;
};

double Percentile(const std::vector<double>& sorted, double p) {
  if (sorted.empty()) return 0;
  const auto index = static_cast<size_t>(p * static_cast<double>(sorted.size() - 1));
  return sorted[index];
}

Status SendPaced(const LatencyProbeOptions& o, traffic::Generator* generator, const std::atomic<bool>& stop,
                 Deliveries* deliveries, LatencyFigures* out) {
  // librdkafka's default linger, as a shop's producer would have it: counted
  // in the latency (the produce time is taken before Produce).
  kafka::ProducerOptions popts;
  popts.properties = {{"bootstrap.servers", o.bootstrap}, {"linger.ms", "5"}, {"partitioner", "murmur2_random"}};
  popts.warm_topics = {o.events_topic};
  popts.on_delivery = [deliveries](const kafka::Delivery& d) { deliveries->Delivered(d); };
  std::unique_ptr<kafka::Producer> producer;
  STREAMREC_RETURN_IF_ERROR(kafka::Producer::Create(popts, &producer));
  const auto start = Clock::now();
  const auto total = static_cast<uint64_t>(o.rate * o.seconds);
  Event event;
  for (uint64_t k = 0; k < total && !stop.load(); ++k) {
    // Send in small bursts at the pace of the offered rate; the delivery
    // reports are served between bursts, so that the reader learns the events'
    // offsets within a few ms.
    if (k % 16 == 0) {
      producer->Poll(0);
      const auto due = start + std::chrono::duration_cast<Clock::duration>(
                                   std::chrono::duration<double>(static_cast<double>(k) / o.rate));
      std::this_thread::sleep_until(due);
    }
    if (!generator->Next(&event)) break;
    event.ts_ms = NowMillis();
    deliveries->Sent(event.user, event.ts_ms);
    STREAMREC_RETURN_IF_ERROR(producer->Produce(o.events_topic, event.user, ingest::EventToJson(event)));
    ++out->events;
  }
  out->achieved_rate = static_cast<double>(out->events) / std::chrono::duration<double>(Clock::now() - start).count();
  return producer->Flush(10000);
}

}  // namespace

Status MeasureLatency(const LatencyProbeOptions& o, traffic::Generator* generator, const std::atomic<bool>& stop,
                      LatencyFigures* out) {
  *out = LatencyFigures();
  out->rate = o.rate;
  FromEnd positions;
  kafka::ConsumerOptions copts;
  copts.properties = {{"bootstrap.servers", o.bootstrap},
                      {"group.id", "streamrec-latency-probe-" + std::to_string(NowMillis())},
                      {"fetch.wait.max.ms", "5"}};
  copts.topics = {o.recommendations_topic};
  std::unique_ptr<kafka::Consumer> consumer;
  STREAMREC_RETURN_IF_ERROR(kafka::Consumer::Create(copts, &positions, &consumer));
  std::vector<kafka::Message> messages;
  const auto join_deadline = Clock::now() + std::chrono::seconds(30);
  while (consumer->Assignment().empty() && Clock::now() < join_deadline && !stop.load()) {
    STREAMREC_RETURN_IF_ERROR(consumer->PollBatch(1000, 100, &messages));
  }
  if (consumer->Assignment().empty()) return Status::Unavailable("latency probe: no partitions assigned in 30 s");
  // "End" is looked up after assignment: let it settle before sending, or the first events are skipped.
  const auto settle = Clock::now() + std::chrono::seconds(1);
  while (Clock::now() < settle) STREAMREC_RETURN_IF_ERROR(consumer->PollBatch(1000, 100, &messages));
  messages.clear();

  Status sent;
  Deliveries deliveries;
  std::thread sender([&] {
    try {
      sent = SendPaced(o, generator, stop, &deliveries, out);
    } catch (const std::exception& e) {  // exceptions never cross threads
      sent = Status::Internal(std::string("latency sender: ") + e.what());
    }
  });
  Matcher matcher;
  std::vector<std::pair<std::string, SentEvent>> delivered;
  auto take_deliveries = [&] {
    deliveries.TakeAll(&delivered);
    for (const auto& [user, event] : delivered) matcher.OnEvent(user, event);
    out->events_delivered += delivered.size();
  };
  const auto end = Clock::now() + std::chrono::seconds(o.seconds) + std::chrono::milliseconds(o.drain_ms);
  Status polled;
  while (Clock::now() < end && !stop.load() && polled.ok()) {
    messages.clear();
    polled = consumer->PollBatch(10000, 5, &messages);
    const int64_t now = NowMillis();
    take_deliveries();
    for (const kafka::Message& m : messages) matcher.OnList(m, now);
    out->lists_read += messages.size();
  }
  sender.join();
  take_deliveries();  // the last ones, served by the sender's Flush
  (void)consumer->Close();
  STREAMREC_RETURN_IF_ERROR(sent);
  STREAMREC_RETURN_IF_ERROR(polled);
  std::vector<double>& lat = matcher.latencies();
  std::sort(lat.begin(), lat.end());
  out->shown = lat.size();
  out->p50_ms = Percentile(lat, 0.50);
  out->p99_ms = Percentile(lat, 0.99);
  out->max_ms = lat.empty() ? 0 : lat.back();
  return Status::Ok();
}

}  // namespace streamrec::bench
