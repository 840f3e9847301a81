#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <deque>
#include <functional>
#include <limits>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "kafka/embedded_broker.h"
#include "learner/learner.h"
#include "pipeline/item_exchange.h"

using namespace streamrec;
using namespace streamrec::pipeline;

namespace {

constexpr const char* kTopic = "g.items";

struct Instance {
  Instance(const kafka::EmbeddedBroker& broker, const std::string& writer, const store::Offsets& stored = {})
      : learner(learner::LearnerOptions{}), exchange(Options(broker, writer), &learner) {
    REQUIRE(exchange.Start(stored).ok());
  }
  static ItemExchangeOptions Options(const kafka::EmbeddedBroker& broker, const std::string& writer) {
    ItemExchangeOptions o;
    o.topic = kTopic;
    o.producer_properties = {{"bootstrap.servers", broker.bootstrap()}};
    o.reader_properties = {{"bootstrap.servers", broker.bootstrap()}, {"fetch.wait.max.ms", "5"}};
    o.writer_id = writer;
    o.timeout_ms = 10000;
    return o;
  }
  // Learns events at offsets [from, to) of `partition` as the pipeline does, each
  // an event of its own user on item "i<offset % 7>".
  void Learn(int32_t partition, int64_t from, int64_t to) {
    for (int64_t offset = from; offset < to; ++offset) {
      UserRecord& user = users.emplace_back();
      learner.InitUser("u" + std::to_string(partition) + "-" + std::to_string(offset),
                       UserId(static_cast<uint32_t>(users.size())), &user);
      const learner::Learner::Scope scope = exchange.ScopeOf(partition, offset);
      learner.Observe(&user, *learner.InternItem("i" + std::to_string(offset % 7)), EventType::kView,
                      1'700'000'000'000 + offset, static_cast<uint64_t>(offset), scope);
      if (scope.record) REQUIRE(exchange.Learned(partition, offset).ok());
    }
  }
  // Polls until `reads` more records were read (applied or skipped; at most
  // 10 s), then briefly for any that should not come; returns those applied.
  size_t Read(size_t reads, const std::function<bool(int32_t)>& consuming = [](int32_t) { return false; }) {
    const auto read = [this] {
      const ItemExchangeCounters c = exchange.counters();
      return c.applied + c.skipped + c.malformed;
    };
    const uint64_t target = read() + reads;
    size_t applied = 0;
    std::vector<ItemId> changed;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (read() < target && std::chrono::steady_clock::now() < deadline) {
      REQUIRE(exchange.Poll(consuming, 16, 100, &changed, &applied).ok());
    }
    REQUIRE(exchange.Poll(consuming, 16, 300, &changed, &applied).ok());
    return applied;
  }
  uint64_t Events(const std::string& item) const {
    const std::optional<ItemId> id = learner.FindItem(item);
    return id ? learner.ItemEvents(*id) : 0;
  }
  learner::Learner learner;
  ItemExchange exchange;
  std::deque<UserRecord> users;
};

std::unique_ptr<kafka::EmbeddedBroker> StartBroker() {
  std::unique_ptr<kafka::EmbeddedBroker> broker;
  REQUIRE(kafka::EmbeddedBroker::Start(1, &broker).ok());
  REQUIRE(broker->CreateTopic(kTopic, 2).ok());
  return broker;
}

}  // namespace

TEST_CASE("item exchange: another writer's records are applied once, a writer's own skipped") {
  std::unique_ptr<kafka::EmbeddedBroker> broker = StartBroker();
  Instance a(*broker, "A");
  Instance b(*broker, "B");
  a.Learn(0, 0, 70);  // 10 events on each of i0..i6
  REQUIRE(a.exchange.PublishAndFlush().ok());
  CHECK(a.exchange.counters().published == 1);
  CHECK(b.Read(1) == 1);
  for (int i = 0; i < 7; ++i) CHECK(b.Events("i" + std::to_string(i)) == 10);
  CHECK(a.Read(1) == 0);  // its own record: skipped
  CHECK(a.exchange.counters().skipped == 1);
  for (int i = 0; i < 7; ++i) CHECK(a.Events("i" + std::to_string(i)) == 10);  // not twice
  store::Offsets positions;
  b.exchange.AddPositions(&positions);
  CHECK(positions.at({kTopic, 0}) == 1);              // read up to here
  CHECK(positions.at({std::string(kTopic) + "#applied", 0}) == 70);  // events below 70 applied

  // A reader restarted from those positions applies nothing again.
  Instance b_again(*broker, "B", positions);
  CHECK(b_again.Read(0) == 0);
  CHECK(b_again.Events("i0") == 0);
}

TEST_CASE("item exchange: taking over a partition, its published events are learned for their users alone") {
  std::unique_ptr<kafka::EmbeddedBroker> broker = StartBroker();
  Instance a(*broker, "A");
  a.Learn(1, 0, 35);
  REQUIRE(a.exchange.PublishAndFlush().ok());
  // b takes partition 1 over, its stored position behind a's record (a crashed
  // after publishing, before committing): the record first, then the replay.
  Instance b(*broker, "B");
  std::atomic<bool> stop{false};
  std::vector<ItemId> changed;
  size_t applied = 0;
  REQUIRE(b.exchange.CatchUp(1, [](int32_t) { return false; }, [] { return Status::Ok(); }, stop, &changed, &applied)
              .ok());
  CHECK(applied == 1);
  CHECK_FALSE(b.exchange.ScopeOf(1, 34).item_side);
  CHECK(b.exchange.ScopeOf(1, 35).item_side);
  CHECK(b.exchange.ScopeOf(1, 35).record);
  b.Learn(1, 0, 40);  // the replay, then 5 new events
  for (int i = 0; i < 7; ++i) CHECK(b.Events("i" + std::to_string(i)) == (i < 5 ? 6 : 5));  // 35 + 5, once each
  // a, restarted on a store that never committed those events, finds its own
  // record past what it committed. b took the partition over and committed
  // past it (a resumes at 40): that store lacks the record's item side, and
  // b learned its events for their users alone. Applied as another writer's.
  Instance a_restarted(*broker, "A");
  applied = 0;
  REQUIRE(a_restarted.exchange
              .CatchUp(1, [](int32_t) { return true; }, [] { return Status::Ok(); }, stop, &changed, &applied)
              .ok());
  CHECK(applied == 0);  // pending until it is known who learns those events
  a_restarted.exchange.ResolveOwnRecords(1, 40, &changed, &applied);
  CHECK(applied == 1);
  CHECK_FALSE(a_restarted.exchange.ScopeOf(1, 20).item_side);
  for (int i = 0; i < 7; ++i) CHECK(a_restarted.Events("i" + std::to_string(i)) == 5);  // 35, once each
  // Restarted again, resuming where its store left off (0): it learns them
  // all whole again, as the lost window did, and does not publish them twice.
  Instance a_replays(*broker, "A");
  REQUIRE(a_replays.exchange
              .CatchUp(1, [](int32_t) { return true; }, [] { return Status::Ok(); }, stop, &changed, &applied)
              .ok());
  a_replays.exchange.ResolveOwnRecords(1, 0, &changed, &applied);
  const learner::Learner::Scope replay = a_replays.exchange.ScopeOf(1, 20);
  CHECK(replay.item_side);
  CHECK_FALSE(replay.record);
  CHECK(a_replays.exchange.ScopeOf(1, 35).record);
  a_replays.Learn(1, 0, 35);
  for (int i = 0; i < 7; ++i) CHECK(a_replays.Events("i" + std::to_string(i)) == 5);
}

TEST_CASE("item exchange: an own record is held by the state whose commit followed its delivery, not by one before") {
  std::unique_ptr<kafka::EmbeddedBroker> broker = StartBroker();
  Instance a(*broker, "A");
  a.Learn(0, 0, 70);
  REQUIRE(a.exchange.PublishAndFlush().ok());
  store::Offsets committed;
  a.exchange.AddPositions(&committed);  // the commit after the delivery
  const std::string own = std::string(kTopic) + "#own";
  CHECK(committed.at({own, 0}) == 70);
  Instance restarted(*broker, "A", committed);
  CHECK(restarted.Read(1) == 0);  // in the committed state already
  CHECK(restarted.Events("i0") == 0);
  // The commit before the delivery (a crash in between): the record is
  // pending, its read position kept, until another member has partition 0.
  Instance crashed(*broker, "A", {{{own, 0}, -1}});
  std::atomic<bool> stop{false};
  std::vector<ItemId> changed;
  size_t applied = 0;
  REQUIRE(crashed.exchange.CatchUp(0, [](int32_t) { return false; }, [] { return Status::Ok(); }, stop, &changed,
                                   &applied).ok());
  CHECK(applied == 0);
  store::Offsets pending;
  crashed.exchange.AddPositions(&pending);
  CHECK(pending.at({kTopic, 0}) == 0);  // read again after another crash
  crashed.exchange.ApplyOwnRecordsElsewhere([](int32_t p) { return p == 0; }, &changed, &applied);
  CHECK(applied == 0);  // partition 0 is this member's: it may learn them again itself
  crashed.exchange.ApplyOwnRecordsElsewhere([](int32_t) { return false; }, &changed, &applied);
  CHECK(applied == 1);
  for (int i = 0; i < 7; ++i) CHECK(crashed.Events("i" + std::to_string(i)) == 10);
  store::Offsets resolved;
  crashed.exchange.AddPositions(&resolved);
  CHECK(resolved.at({kTopic, 0}) == 1);
  CHECK(resolved.at({own, 0}) == 70);  // in this state now
  // A state stored before own_committed was kept (positions, no #own): its
  // own records are taken as held, as that version did.
  Instance older(*broker, "A", {{{kTopic, 0}, 0}});
  CHECK(older.Read(1) == 0);
  store::Offsets still;
  older.exchange.AddPositions(&still);
  CHECK(still.at({own, 0}) == std::numeric_limits<int64_t>::max());
}

TEST_CASE("item exchange: a record for a partition this instance consumes is not applied") {
  std::unique_ptr<kafka::EmbeddedBroker> broker = StartBroker();
  Instance zombie(*broker, "Z");
  Instance owner(*broker, "O");
  zombie.Learn(0, 0, 14);
  REQUIRE(zombie.exchange.PublishAndFlush().ok());
  CHECK(owner.Read(1, [](int32_t p) { return p == 0; }) == 0);
  CHECK(owner.exchange.counters().skipped == 1);
  CHECK(owner.Events("i0") == 0);
}
