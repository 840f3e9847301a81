#include "bench/latency_probe.h"

#include <algorithm>
#include <chrono>
#include <deque>
#include <map>
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

// Both topics from their end: only what is sent during the probe is measured.
class FromEnd : public kafka::PositionProvider {
 public:
  int64_t ResumeOffset(const kafka::TopicPartition&) override { return kafka::kOffsetEnd; }
  void OnRevoked(const std::vector<kafka::TopicPartition>&) override {}
};

struct Pending {
  int32_t partition = 0;
  int64_t offset = 0;
  int64_t produced_ms = 0;
};

// Matches lists to the events they show.
class Matcher {
 public:
  void OnEvent(const kafka::Message& m) {
    pending_[std::string(m.key())].push_back({m.partition(), m.offset(), m.timestamp_ms()});
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
    auto it = pending_.find(std::string(user));
    if (it == pending_.end()) return;
    std::deque<Pending>& queue = it->second;
    while (!queue.empty() && queue.front().partition == partition && queue.front().offset <= offset) {
      latencies_.push_back(static_cast<double>(arrived_ms - queue.front().produced_ms));
      queue.pop_front();
    }
  }

  std::vector<double>& latencies() { return latencies_; }

 private:
  simdjson::dom::parser parser_;
  std::unordered_map<std::string, std::deque<Pending>> pending_;
  std::vector<double> latencies_;
};

double Percentile(const std::vector<double>& sorted, double p) {
  if (sorted.empty()) return 0;
  const auto index = static_cast<size_t>(p * static_cast<double>(sorted.size() - 1));
  return sorted[index];
}

Status SendPaced(const LatencyProbeOptions& o, app::Generator* generator, const std::atomic<bool>& stop,
                 LatencyFigures* out) {
  kafka::ProducerOptions popts;
  popts.properties = {{"bootstrap.servers", o.bootstrap}, {"linger.ms", "1"}, {"partitioner", "murmur2_random"}};
  popts.warm_topics = {o.events_topic};
  std::unique_ptr<kafka::Producer> producer;
  STREAMREC_RETURN_IF_ERROR(kafka::Producer::Create(popts, &producer));
  const auto start = Clock::now();
  const auto total = static_cast<uint64_t>(o.rate * o.seconds);
  Event event;
  for (uint64_t k = 0; k < total && !stop.load(); ++k) {
    // Send in small bursts at the pace of the offered rate.
    if (k % 16 == 0) {
      const auto due = start + std::chrono::duration_cast<Clock::duration>(
                                   std::chrono::duration<double>(static_cast<double>(k) / o.rate));
      std::this_thread::sleep_until(due);
    }
    if (!generator->Next(&event)) break;
    event.ts_ms = NowMillis();
    STREAMREC_RETURN_IF_ERROR(producer->Produce(o.events_topic, event.user, ingest::EventToJson(event)));
    ++out->events;
    if (k % 1024 == 0) producer->Poll(0);
  }
  out->achieved_rate = static_cast<double>(out->events) / std::chrono::duration<double>(Clock::now() - start).count();
  return producer->Flush(10000);
}

}  // namespace

Status MeasureLatency(const LatencyProbeOptions& o, app::Generator* generator, const std::atomic<bool>& stop,
                      LatencyFigures* out) {
  *out = LatencyFigures();
  out->rate = o.rate;
  FromEnd positions;
  kafka::ConsumerOptions copts;
  copts.properties = {{"bootstrap.servers", o.bootstrap},
                      {"group.id", "streamrec-latency-probe-" + std::to_string(NowMillis())},
                      {"fetch.wait.max.ms", "5"}};
  copts.topics = {o.events_topic, o.recommendations_topic};
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
  std::thread sender([&] {
    try {
      sent = SendPaced(o, generator, stop, out);
    } catch (const std::exception& e) {  // exceptions never cross threads
      sent = Status::Internal(std::string("latency sender: ") + e.what());
    }
  });
  Matcher matcher;
  const auto end = Clock::now() + std::chrono::seconds(o.seconds) + std::chrono::milliseconds(o.drain_ms);
  Status polled;
  while (Clock::now() < end && !stop.load() && polled.ok()) {
    messages.clear();
    polled = consumer->PollBatch(10000, 5, &messages);
    const int64_t now = NowMillis();
    for (const kafka::Message& m : messages) {
      if (m.topic() == o.events_topic) {
        matcher.OnEvent(m);
        ++out->events_read;
      } else {
        matcher.OnList(m, now);
        ++out->lists_read;
      }
    }
  }
  sender.join();
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
