#include <catch2/catch.hpp>

#include <chrono>
#include <map>
#include <string>
#include <thread>

#include "kafka/embedded_broker.h"
#include "kafka/embedded_compactor.h"
#include "kafka/producer.h"
#include "kafka/reader.h"

using namespace streamrec;
using namespace streamrec::kafka;

namespace {

constexpr int kWaitMs = 20000;

// Every key's last value in partition 0 of `topic`, read from the low watermark.
std::map<std::string, std::string> LatestValues(const std::string& bootstrap, const std::string& topic,
                                                Watermarks* marks) {
  std::unique_ptr<PartitionReader> reader;
  REQUIRE(PartitionReader::Create({{"bootstrap.servers", bootstrap}}, &reader).ok());
  REQUIRE(reader->QueryWatermarks(topic, 0, 5000, marks).ok());
  std::map<std::string, std::string> latest;
  REQUIRE(reader
              ->Read(topic, 0, marks->low, marks->high, 10000,
                     [&](const Message& m) {
                       if (m.payload().empty()) {
                         latest.erase(std::string(m.key()));
                       } else {
                         latest[std::string(m.key())] = std::string(m.payload());
                       }
                     })
              .ok());
  return latest;
}

std::unique_ptr<Producer> NewProducer(const std::string& bootstrap) {
  ProducerOptions popts;
  popts.properties = {{"bootstrap.servers", bootstrap}, {"linger.ms", "2"}};
  std::unique_ptr<Producer> producer;
  REQUIRE(Producer::Create(popts, &producer).ok());
  return producer;
}

// Produces in slices with pauses, as a pipeline would, rather than 10 MB at once.
void ProducePaced(Producer* producer, const std::string& topic, const std::string& key, const std::string& value,
                  int* in_slice) {
  REQUIRE(producer->Produce(topic, key, value, {}, 0).ok());
  if (++*in_slice < 500) return;
  *in_slice = 0;
  REQUIRE(producer->Flush(5000).ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(30));
}

}  // namespace

TEST_CASE("the embedded broker keeps every key's latest record of a compacted topic, past its log limit") {
  std::unique_ptr<EmbeddedBroker> broker;
  REQUIRE(EmbeddedBroker::Start(1, &broker).ok());
  REQUIRE(broker->CreateTopic("lists", 1, /*compacted=*/true).ok());
  REQUIRE(broker->CreateTopic("plain", 1).ok());
  REQUIRE(broker->StartCompaction().ok());
  std::unique_ptr<Producer> producer = NewProducer(broker->bootstrap());
  const std::string pad(300, 'x');
  std::map<std::string, std::string> want;
  int in_slice = 0;
  // 3,000 keys once (~1.2 MB), 50 of them deleted, then 30,000 updates of 100
  // hot keys (~12 MB): the mock's 5 MB log alone would keep the hot keys only.
  for (const std::string topic : {"lists", "plain"}) {
    for (int k = 0; k < 3000; ++k) {
      const std::string key = "user-" + std::to_string(k);
      ProducePaced(producer.get(), topic, key, "v0 " + key + pad, &in_slice);
      if (topic == "lists") want[key] = "v0 " + key + pad;
    }
    for (int k = 1000; k < 1050; ++k) {
      ProducePaced(producer.get(), topic, "user-" + std::to_string(k), std::string(), &in_slice);
      if (topic == "lists") want.erase("user-" + std::to_string(k));
    }
    for (int u = 1; u <= 30000; ++u) {
      const std::string key = "user-" + std::to_string(u % 100);
      const std::string value = "v" + std::to_string(u) + " " + key + pad;
      ProducePaced(producer.get(), topic, key, value, &in_slice);
      if (topic == "lists") want[key] = value;
    }
  }
  REQUIRE(producer->Flush(5000).ok());
  // The compactor reads behind the writes: its last copies land soon after.
  Watermarks marks;
  std::map<std::string, std::string> got;
  for (int i = 0; i < kWaitMs / 250 && got != want; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
    got = LatestValues(broker->bootstrap(), "lists", &marks);
  }
  INFO(broker->CompactionStatus().ToString());
  CHECK(broker->CompactionStatus().ok());
  CHECK(marks.low > 0);  // the mock did drop the oldest records
  CHECK(got.size() == want.size());
  CHECK(got == want);
  // Without compaction the same writes lose the cold keys.
  Watermarks plain_marks;
  CHECK(LatestValues(broker->bootstrap(), "plain", &plain_marks).size() < 1000);
}

TEST_CASE("more latest records than a partition can keep stop the compaction with a clear error") {
  std::unique_ptr<EmbeddedBroker> broker;
  REQUIRE(EmbeddedBroker::Start(1, &broker).ok());
  REQUIRE(broker->CreateTopic("lists", 1, /*compacted=*/true).ok());
  REQUIRE(broker->StartCompaction().ok());
  std::unique_ptr<Producer> producer = NewProducer(broker->bootstrap());
  const std::string pad(300, 'x');
  int in_slice = 0;
  // ~7 MB of distinct keys: past the log, and more than 60 % of it.
  for (int k = 0; k < 15000; ++k) ProducePaced(producer.get(), "lists", "user-" + std::to_string(k), pad, &in_slice);
  REQUIRE(producer->Flush(5000).ok());
  Status s;
  for (int i = 0; i < kWaitMs / 100 && s.ok(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    s = broker->CompactionStatus();
  }
  CHECK(s.code() == StatusCode::kResourceExhausted);
  CHECK(s.message().find("partition 0 of compacted topic lists holds ") != std::string::npos);
  CHECK(s.message().find("more than the 2.1 MB it can keep") != std::string::npos);
  CHECK(s.message().find("more partitions") != std::string::npos);
}
