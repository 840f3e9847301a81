#include <catch2/catch.hpp>

#include <stdexcept>

#include <chrono>
#include <map>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "kafka/admin.h"
#include "kafka/consumer.h"
#include "kafka/embedded_broker.h"
#include "kafka/producer.h"
#include "kafka/reader.h"

using namespace streamrec;
using namespace streamrec::kafka;

namespace {

class FixedPositions : public PositionProvider {
 public:
  std::map<int32_t, int64_t> resume;
  std::vector<TopicPartition> revoked;
  int64_t ResumeOffset(const TopicPartition& tp) override {
    auto it = resume.find(tp.partition);
    return it == resume.end() ? kOffsetBeginning : it->second;
  }
  void OnRevoked(const std::vector<TopicPartition>& parts) override {
    revoked.insert(revoked.end(), parts.begin(), parts.end());
  }
};

// A consumer in group "g" of topic "t" on `broker`.
std::unique_ptr<Consumer> JoinGroup(const EmbeddedBroker& broker, PositionProvider* positions) {
  ConsumerOptions copts;
  copts.properties = {{"bootstrap.servers", broker.bootstrap()}, {"group.id", "g"}};
  copts.topics = {"t"};
  std::unique_ptr<Consumer> consumer;
  REQUIRE(Consumer::Create(copts, positions, &consumer).ok());
  return consumer;
}

}  // namespace

TEST_CASE("messages round-trip through the embedded broker and resume at provided offsets") {
  std::unique_ptr<EmbeddedBroker> broker;
  REQUIRE(EmbeddedBroker::Start(1, &broker).ok());
  REQUIRE(broker->bootstrap().rfind("127.0.0.1:", 0) == 0);
  REQUIRE(broker->CreateTopic("t", 2).ok());

  ProducerOptions popts;
  popts.properties = {{"bootstrap.servers", broker->bootstrap()}, {"linger.ms", "1"}};
  std::unique_ptr<Producer> producer;
  REQUIRE(Producer::Create(popts, &producer).ok());
  for (int i = 0; i < 40; ++i) {
    const std::string n = std::to_string(i);
    Header h{"n", n};
    REQUIRE(producer->Produce("t", "k", n, {&h, 1}, i % 2).ok());
  }
  REQUIRE(producer->Flush(10000).ok());
  CHECK(producer->delivered() == 40);
  CHECK(producer->failed() == 0);

  FixedPositions positions;
  positions.resume[0] = 10;  // skip the first 10 messages of partition 0
  std::unique_ptr<Consumer> consumer = JoinGroup(*broker, &positions);

  std::vector<Message> got;
  for (int i = 0; i < 100 && got.size() < 30; ++i) REQUIRE(consumer->PollBatch(100, 200, &got).ok());
  REQUIRE(got.size() == 30);
  std::set<int64_t> p0;
  for (const Message& m : got) {
    CHECK(m.topic() == "t");
    CHECK(m.key() == "k");
    CHECK(m.timestamp_ms() > 0);
    if (m.partition() == 0) p0.insert(m.offset());
  }
  CHECK(p0.size() == 10);
  CHECK(*p0.begin() == 10);
  CHECK(consumer->Assignment().size() == 2);

  // A batch never waits to fill: once messages came it returns after the
  // linger, long before its 20 s timeout (fewer than 100 ever arrive).
  for (int i = 0; i < 3; ++i) REQUIRE(producer->Produce("t", "k", "late", {}, 0).ok());
  REQUIRE(producer->Flush(10000).ok());
  std::vector<Message> late;
  const auto started = std::chrono::steady_clock::now();
  while (late.size() < 3 && std::chrono::steady_clock::now() - started < std::chrono::seconds(60)) {
    REQUIRE(consumer->PollBatch(100, 20000, &late, 10).ok());
  }
  CHECK(late.size() == 3);
  CHECK(std::chrono::steady_clock::now() - started < std::chrono::seconds(15));
  REQUIRE(consumer->Close().ok());
  CHECK(positions.revoked.size() == 2);
}

TEST_CASE("delivered offsets are tracked per partition, reported per message, and a reader reads a range outside any group") {
  std::unique_ptr<EmbeddedBroker> broker;
  REQUIRE(EmbeddedBroker::Start(1, &broker).ok());
  REQUIRE(broker->CreateTopic("log", 2).ok());
  ProducerOptions popts;
  popts.properties = {{"bootstrap.servers", broker->bootstrap()}, {"linger.ms", "1"}};
  popts.track_offsets = true;
  std::vector<std::tuple<std::string, std::string, int32_t, int64_t>> deliveries;  // topic, key, partition, offset
  popts.on_delivery = [&](const Delivery& d) { deliveries.emplace_back(d.topic, d.key, d.partition, d.offset); };
  std::unique_ptr<Producer> producer;
  REQUIRE(Producer::Create(popts, &producer).ok());
  for (int i = 0; i < 5; ++i) REQUIRE(producer->Produce("log", "k" + std::to_string(i), std::to_string(i), {}, 1).ok());
  REQUIRE(producer->Flush(10000).ok());
  REQUIRE(deliveries.size() == 5);
  for (int i = 0; i < 5; ++i) {
    CHECK(deliveries[static_cast<size_t>(i)] == std::make_tuple(std::string("log"), "k" + std::to_string(i), 1, int64_t{i}));
  }
  CHECK(producer->DeliveredOffset("log", 1) == 4);
  CHECK(producer->DeliveredOffset("log", 0) == -1);
  CHECK(producer->DeliveredOffset("other", 1) == -1);

  std::unique_ptr<PartitionReader> reader;
  REQUIRE(PartitionReader::Create({{"bootstrap.servers", broker->bootstrap()}}, &reader).ok());
  Watermarks marks;
  REQUIRE(reader->QueryWatermarks("log", 1, 10000, &marks).ok());
  CHECK(marks.low == 0);
  CHECK(marks.high == 5);
  std::vector<std::string> values;
  REQUIRE(reader->Read("log", 1, 2, 4, 10000, [&](const Message& m) { values.emplace_back(m.payload()); }).ok());
  CHECK(values == std::vector<std::string>{"2", "3"});
}

// Partitions the Java client's partitioner gives these keys (kafka-python's
// murmur2, `(murmur2(key) & 0x7fffffff) % n`), and where a murmur2_random
// producer puts them on a 7-partition topic.
TEST_CASE("KeyPartition is the Java client's partitioner") {
  const std::vector<std::tuple<std::string, int32_t, int32_t>> java = {
      {"u1", 0, 5}, {"user-42", 0, 1}, {"214536502", 1, 4}, {"item:abc", 0, 0},
      {"", 1, 2},   {"A", 2, 5},       {"2268318", 2, 5},   {"sku/\xc3\x84-9", 1, 6}};
  for (const auto& [key, of4, of7] : java) {
    CHECK(KeyPartition(key, 4) == of4);
    CHECK(KeyPartition(key, 7) == of7);
    CHECK(KeyPartition(key, 1) == 0);
  }
  std::unique_ptr<EmbeddedBroker> broker;
  REQUIRE(EmbeddedBroker::Start(1, &broker).ok());
  REQUIRE(broker->CreateTopic("keyed", 7).ok());
  ProducerOptions popts;
  popts.properties = {{"bootstrap.servers", broker->bootstrap()}, {"partitioner", "murmur2_random"}};
  std::map<std::string, int32_t> landed;
  popts.on_delivery = [&](const Delivery& d) { landed[std::string(d.key)] = d.partition; };
  std::unique_ptr<Producer> producer;
  REQUIRE(Producer::Create(popts, &producer).ok());
  for (const auto& [key, of4, of7] : java) {
    if (!key.empty()) REQUIRE(producer->Produce("keyed", key, "v").ok());  // an empty key is no key: random
  }
  REQUIRE(producer->Flush(10000).ok());
  REQUIRE(landed.size() == java.size() - 1);
  for (const auto& [key, partition] : landed) CHECK(partition == KeyPartition(key, 7));
}

TEST_CASE("values produced by reference arrive whole; their keys are copied") {
  std::unique_ptr<EmbeddedBroker> broker;
  REQUIRE(EmbeddedBroker::Start(1, &broker).ok());
  REQUIRE(broker->CreateTopic("log", 1).ok());
  ProducerOptions popts;
  popts.properties = {{"bootstrap.servers", broker->bootstrap()}, {"linger.ms", "5"}};
  std::unique_ptr<Producer> producer;
  REQUIRE(Producer::Create(popts, &producer).ok());
  // One buffer holds every value; it outlives the flush, the keys do not.
  std::string buffer;
  for (int i = 0; i < 100; ++i) buffer += std::string(static_cast<size_t>(50 + i), static_cast<char>('a' + i % 26));
  size_t at = 0;
  for (int i = 0; i < 100; ++i) {
    const size_t size = static_cast<size_t>(50 + i);
    const std::string key = "key-" + std::to_string(i);
    REQUIRE(producer->ProduceReferenced("log", key, std::string_view(buffer).substr(at, size), 0).ok());
    at += size;
  }
  REQUIRE(producer->Flush(10000).ok());
  CHECK(producer->outstanding() == 0);
  std::unique_ptr<PartitionReader> reader;
  REQUIRE(PartitionReader::Create({{"bootstrap.servers", broker->bootstrap()}}, &reader).ok());
  std::vector<std::pair<std::string, std::string>> read;
  REQUIRE(reader->Read("log", 0, 0, 100, 10000, [&](const Message& m) { read.emplace_back(m.key(), m.payload()); }).ok());
  REQUIRE(read.size() == 100);
  at = 0;
  for (size_t i = 0; i < read.size(); ++i) {
    CHECK(read[i].first == "key-" + std::to_string(i));
    CHECK(read[i].second == buffer.substr(at, 50 + i));
    at += 50 + i;
  }
}

TEST_CASE("AwaitTopics returns once the cluster shows every topic, and names the ones it never shows") {
  std::unique_ptr<EmbeddedBroker> broker;
  REQUIRE(EmbeddedBroker::Start(1, &broker).ok());
  REQUIRE(broker->CreateTopic("shown", 2).ok());
  const Properties admin = {{"bootstrap.servers", broker->bootstrap()}};
  CHECK(AwaitTopics(admin, {}, 1000).ok());
  CHECK(AwaitTopics(admin, {"shown"}, 1000).ok());
  const auto started = std::chrono::steady_clock::now();
  const Status s = AwaitTopics(admin, {"shown", "never-made"}, 600);
  CHECK(std::chrono::steady_clock::now() - started >= std::chrono::milliseconds(600));
  CHECK(s.code() == StatusCode::kUnavailable);
  CHECK(s.retryable());
  CHECK_THAT(s.message(), Catch::Contains("never-made") && !Catch::Contains("shown,"));
}

TEST_CASE("producer rejects bad properties with a clear error") {
  ProducerOptions popts;
  popts.properties = {{"no.such.property", "1"}};
  std::unique_ptr<Producer> producer;
  Status s = Producer::Create(popts, &producer);
  CHECK(s.code() == StatusCode::kInvalidArgument);
  CHECK(s.message().find("no.such.property") != std::string::npos);
}

TEST_CASE("a producer looks its topics up at start; a broker that does not answer is no error") {
  std::unique_ptr<EmbeddedBroker> broker;
  REQUIRE(EmbeddedBroker::Start(1, &broker).ok());
  REQUIRE(broker->CreateTopic("warm", 2).ok());
  ProducerOptions popts;
  popts.properties = {{"bootstrap.servers", broker->bootstrap()}, {"linger.ms", "1"}};
  popts.warm_topics = {"warm"};
  std::unique_ptr<Producer> producer;
  REQUIRE(Producer::Create(popts, &producer).ok());
  REQUIRE(producer->Produce("warm", "k", "v", {}, 1).ok());
  REQUIRE(producer->Flush(10000).ok());
  CHECK(producer->delivered() == 1);

  // Nothing listens on port 9: Create still succeeds, after the bounded wait.
  popts.properties = {{"bootstrap.servers", "127.0.0.1:9"}};
  const auto started = std::chrono::steady_clock::now();
  std::unique_ptr<Producer> unanswered;
  REQUIRE(Producer::Create(popts, &unanswered).ok());
  CHECK(std::chrono::steady_clock::now() - started < std::chrono::seconds(5));
}

namespace {

class ThrowingPositions : public PositionProvider {
 public:
  int64_t ResumeOffset(const TopicPartition&) override { throw std::runtime_error("store unreadable"); }
  void OnRevoked(const std::vector<TopicPartition>&) override {}
};

}  // namespace

TEST_CASE("an exception in the rebalance callback becomes PollBatch's error; nothing is recorded as assigned") {
  std::unique_ptr<EmbeddedBroker> broker;
  REQUIRE(EmbeddedBroker::Start(1, &broker).ok());
  REQUIRE(broker->CreateTopic("t", 2).ok());
  ThrowingPositions positions;
  std::unique_ptr<Consumer> consumer = JoinGroup(*broker, &positions);
  std::vector<Message> got;
  Status s;
  for (int i = 0; i < 100 && s.ok(); ++i) s = consumer->PollBatch(10, 200, &got);
  CHECK(s.code() == StatusCode::kInternal);
  CHECK(s.message().find("store unreadable") != std::string::npos);
  CHECK(consumer->Assignment().empty());
  CHECK(consumer->Close().ok());
}

namespace {

// Holds partition 0 on assignment, resuming provisionally at offset 0.
class HoldingPositions : public FixedPositions {
 public:
  bool HoldOnAssign(const TopicPartition& tp) override { return tp.partition == 0; }
};

void ProduceNumbered(Producer* producer, int32_t partition, int from, int count) {
  for (int i = from; i < from + count; ++i) REQUIRE(producer->Produce("t", "k", std::to_string(i), {}, partition).ok());
  REQUIRE(producer->Flush(10000).ok());
}

}  // namespace

TEST_CASE("a held partition delivers nothing until released at the offset its owner chose; Serve() delivers nothing and loses nothing") {
  std::unique_ptr<EmbeddedBroker> broker;
  REQUIRE(EmbeddedBroker::Start(1, &broker).ok());
  REQUIRE(broker->CreateTopic("t", 2).ok());
  ProducerOptions popts;
  popts.properties = {{"bootstrap.servers", broker->bootstrap()}, {"linger.ms", "1"}};
  std::unique_ptr<Producer> producer;
  REQUIRE(Producer::Create(popts, &producer).ok());
  ProduceNumbered(producer.get(), 0, 0, 20);
  ProduceNumbered(producer.get(), 1, 0, 20);

  HoldingPositions positions;
  std::unique_ptr<Consumer> consumer = JoinGroup(*broker, &positions);
  std::vector<Message> got;
  for (int i = 0; i < 100 && got.size() < 20; ++i) REQUIRE(consumer->PollBatch(100, 100, &got).ok());
  REQUIRE(got.size() == 20);
  for (const Message& m : got) CHECK(m.partition() == 1);
  REQUIRE(consumer->Held() == std::vector<TopicPartition>{{"t", 0}});
  got.clear();
  REQUIRE(consumer->PollBatch(100, 300, &got).ok());
  CHECK(got.empty());  // still held

  // While its owner is busy (Serve), new messages of the flowing partition wait.
  ProduceNumbered(producer.get(), 1, 20, 10);
  for (int i = 0; i < 10; ++i) REQUIRE(consumer->Serve(50).ok());
  REQUIRE(consumer->Release({"t", 0}, 15).ok());
  CHECK(consumer->Held().empty());
  std::map<int32_t, std::vector<int64_t>> offsets;
  for (int i = 0; i < 100 && got.size() < 15; ++i) REQUIRE(consumer->PollBatch(100, 100, &got).ok());
  for (const Message& m : got) offsets[m.partition()].push_back(m.offset());
  CHECK(offsets[0] == std::vector<int64_t>{15, 16, 17, 18, 19});
  CHECK(offsets[1] == std::vector<int64_t>{20, 21, 22, 23, 24, 25, 26, 27, 28, 29});
  // A released partition is released once; an unknown one is ignored.
  CHECK(consumer->Release({"t", 0}, 0).ok());
  CHECK(consumer->Release({"t", 7}, 0).ok());
  REQUIRE(consumer->Close().ok());
}
