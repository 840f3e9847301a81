#include <catch2/catch.hpp>

#include <array>
#include <chrono>
#include <csignal>
#include <filesystem>
#include <random>
#include <tuple>
#include <sys/wait.h>
#include <unistd.h>

#include <rocksdb/db.h>

#include "store/codec.h"
#include "store/commit_writer.h"
#include "store/store.h"
#include "store/store_test_util.h"
#include "store/user_cache.h"

using namespace streamrec;
using namespace streamrec::store;
using namespace streamrec::store::testing;

TEST_CASE("commit writer: writes on its own thread, hands the commit back, reports a failure to retry") {
  const std::string path = FreshDir("writer");
  StoreOptions o = FaultyStoreOptions(path);
  auto prepare = [](Store* s, int64_t offset, UserRecord* u) {
    *u = MakeUser(0, static_cast<uint64_t>(offset));
    CommitBatch b;
    b.users.push_back({"u", u});
    b.offsets[{"events", 0}] = offset;
    auto commit = std::make_unique<PreparedCommit>();
    s->Prepare(b, commit.get());
    return commit;
  };
  auto stored_offset = [](Store* s) {
    Offsets offsets;
    REQUIRE(s->ReadOffsets(&offsets).ok());
    return offsets.at({"events", 0});
  };
  {
    std::unique_ptr<Store> s;
    REQUIRE(Store::Open(o, &s).ok());
    CommitWriter writer(s.get());
    writer.Start();
    UserRecord u;
    std::unique_ptr<PreparedCommit> commit = prepare(s.get(), 10, &u);
    CHECK(commit->entries() == 5);  // the user (one record), one offset, three counters
    writer.Submit(std::move(commit));
    CHECK(writer.in_flight());
    std::chrono::steady_clock::duration took{};
    REQUIRE(writer.Wait(&commit, &took).ok());
    REQUIRE(commit != nullptr);  // handed back for reuse
    CHECK_FALSE(writer.in_flight());
    CHECK(stored_offset(s.get()) == 10);

    o.faults->fail_writes = true;
    std::unique_ptr<PreparedCommit> failing = prepare(s.get(), 20, &u);
    std::vector<ItemRecord> deferred{MakeItem(3, "deferred")};
    failing->DeferItems(&deferred);  // encoded on the writer's thread
    CHECK(deferred.empty());         // what the commit held before: nothing
    std::vector<SessionRecord> sessions{SessionRecord{.slot = 2, .owner = UserId(7), .items = {ItemId(3)}, .gained = {1}}};
    failing->DeferSessions(&sessions);
    CHECK(sessions.empty());
    writer.Submit(std::move(failing));
    Status failed = writer.Wait(&commit, &took);
    CHECK(failed.code() == StatusCode::kIOError);
    CHECK(failed.retryable());
    CHECK(stored_offset(s.get()) == 10);
    o.faults->fail_writes = false;
    // As the pipeline does: the owner retries the same commit on its thread.
    Status retried = RetryWhileRetryable([&] { return s->Write(commit.get()); });
    INFO(retried.ToString());
    REQUIRE(retried.ok());
    CHECK(stored_offset(s.get()) == 20);
    CHECK(commit->entries() == 8);  // the deferred item (record and rows) and session encoded once, though written twice
    std::vector<ItemRecord> items;
    REQUIRE(s->LoadItems([&](const ItemRecord& r) { items.push_back(r); }).ok());
    REQUIRE(items.size() == 1);
    CHECK(items[0].external_id == "deferred");
    CHECK(items[0].neighbors == MakeItem(3, "").neighbors);
    std::vector<SessionRecord> stored;
    REQUIRE(s->LoadSessions([&](const SessionRecord& r) { stored.push_back(r); }).ok());
    REQUIRE(stored.size() == 1);
    CHECK(stored[0].owner == UserId(7));
    CHECK(stored[0].items == std::vector<ItemId>{ItemId(3)});

    // Prepare drops items deferred before it.
    deferred = {MakeItem(4, "dropped")};
    commit->DeferItems(&deferred);
    REQUIRE(deferred.size() == 1);  // the record written above, handed back for its storage
    CHECK(deferred[0].external_id == "deferred");
    CommitBatch again;
    again.offsets[{"events", 0}] = 25;
    s->Prepare(again, commit.get());
    REQUIRE(s->Write(commit.get()).ok());
    items.clear();
    REQUIRE(s->LoadItems([&](const ItemRecord& r) { items.push_back(r); }).ok());
    CHECK(items.size() == 1);

    writer.Submit(prepare(s.get(), 30, &u));
    writer.Stop();  // the write in flight finishes first
  }
  o.faults.reset();
  auto s = OpenStore(path);
  CHECK(stored_offset(s.get()) == 30);
}

TEST_CASE("catalog records and list holders commit with the state and survive a reopen") {
  const std::string path = FreshDir("catalog");
  CatalogRecord shoe;
  shoe.update.entry.item_id = "sku-1";
  shoe.update.entry.category = "shoes";
  shoe.update.entry.brand = "acme";
  shoe.update.entry.price = 19.5;
  shoe.update.entry.in_stock = false;
  shoe.update.entry.available_until_ms = 1700000000000;
  shoe.update.entry.tags = {"sale", "summer"};
  shoe.first_seen_ms = 42;
  CatalogRecord gone;
  gone.update.entry.item_id = "sku-2";
  gone.update.removed = true;
  {
    auto s = OpenStore(path);
    CommitBatch b;
    b.catalog = {shoe, gone};
    b.holders = {{ItemId(5), "alice", 3, true}, {ItemId(5), "bob", 1, true}, {ItemId(6), "alice", 3, true}};
    REQUIRE(s->Commit(b).ok());
    CommitBatch c;
    c.holders = {{ItemId(5), "bob", 1, false}};
    REQUIRE(s->Commit(c).ok());
  }
  auto s = OpenStore(path);
  std::vector<CatalogRecord> loaded;
  REQUIRE(s->LoadCatalog([&](const CatalogRecord& r) { loaded.push_back(r); }).ok());
  REQUIRE(loaded.size() == 2);
  CHECK(loaded[0].update.entry == shoe.update.entry);
  CHECK(loaded[0].first_seen_ms == 42);
  CHECK_FALSE(loaded[0].update.removed);
  CHECK(loaded[1].update.removed);
  CHECK(loaded[1].update.entry.item_id == "sku-2");
  std::vector<std::pair<std::string, int32_t>> holders;
  REQUIRE(s->ForEachHolder(ItemId(5), [&](std::string_view u, int32_t p) { holders.emplace_back(u, p); }).ok());
  REQUIRE(holders.size() == 1);
  CHECK(holders[0] == std::pair<std::string, int32_t>{"alice", 3});
  holders.clear();
  REQUIRE(s->ForEachHolder(ItemId(7), [&](std::string_view u, int32_t p) { holders.emplace_back(u, p); }).ok());
  CHECK(holders.empty());
}

TEST_CASE("pending lists commit in order with the state, per partition, and survive a reopen") {
  const std::string path = FreshDir("pending");
  {
    auto s = OpenStore(path);
    CommitBatch b;
    // carol is owed a list and delivered in the same batch: the later change wins.
    b.pending = {{"alice", 1, 40, 1000, true}, {"bob", 2, 7, 1001, true}, {"carol", 1, 41, 1002, true},
                 {"carol", 1, 41, 1002, false}, {"alice", 1, 45, 1000, true}};
    REQUIRE(s->Commit(b).ok());
  }
  auto s = OpenStore(path);
  std::vector<std::tuple<std::string, int32_t, int64_t, int64_t>> owed;
  auto collect = [&](const PendingListChange& p) {
    CHECK(p.owed);
    owed.emplace_back(std::string(p.user), p.partition, p.source_offset, p.since_ms);
  };
  REQUIRE(s->LoadPendingLists(1, collect).ok());
  REQUIRE(owed.size() == 1);
  CHECK(owed[0] == std::make_tuple(std::string("alice"), 1, int64_t{45}, int64_t{1000}));
  owed.clear();
  REQUIRE(s->LoadPendingLists(2, collect).ok());
  REQUIRE(owed.size() == 1);
  CHECK(std::get<0>(owed[0]) == "bob");
  owed.clear();
  REQUIRE(s->LoadPendingLists(0, collect).ok());
  CHECK(owed.empty());
}

TEST_CASE("pending lists: a user newly owed and delivered within a batch writes nothing; one owed before is deleted") {
  const std::string path = FreshDir("pending_pairs");
  auto s = OpenStore(path);
  CommitBatch first;
  first.pending = {{"dave", 0, 3, 900, true, true}};
  REQUIRE(s->Commit(first).ok());

  CommitBatch b;
  b.pending = {{"alice", 0, 40, 1000, true, true}, {"dave", 0, 5, 900, true, false}, {"erin", 0, 8, 1003, true, true},
               {"alice", 0, 40, 1000, false},      {"dave", 0, 5, 900, false},       {"erin", 0, 8, 1003, false},
               {"erin", 0, 9, 1004, true, true}};
  PreparedCommit prepared;
  s->Prepare(b, &prepared);
  // dave's delete and erin's last put, then the three counters; nothing for alice.
  CHECK(prepared.entries() == 2 + 3);
  REQUIRE(s->Write(&prepared).ok());
  std::vector<std::tuple<std::string, int64_t>> owed;
  REQUIRE(s->LoadPendingLists(0, [&](const PendingListChange& p) {
    owed.emplace_back(std::string(p.user), p.source_offset);
  }).ok());
  REQUIRE(owed.size() == 1);  // dave was owed before the batch: deleted
  CHECK(owed[0] == std::make_tuple(std::string("erin"), int64_t{9}));
}

TEST_CASE("pending lists: users alike in their first 16 bytes, or in another partition, are told apart") {
  const std::string path = FreshDir("pending_alike");
  auto s = OpenStore(path);
  const std::string a = "customer-0000000000000001";
  const std::string b = "customer-0000000000000002";
  CommitBatch batch;
  // a: owed; b: owed then delivered (nothing stored); a again in partition 1: owed.
  // Taken for one user, a and b would end delivered: nothing stored for a.
  batch.pending = {{a, 0, 1, 10, true, true}, {b, 0, 2, 11, true, true}, {a, 1, 3, 12, true, true},
                   {b, 0, 2, 11, false}};
  PreparedCommit prepared;
  s->Prepare(batch, &prepared);
  CHECK(prepared.entries() == 2 + 3);  // a's puts in both partitions, the counters
  REQUIRE(s->Write(&prepared).ok());
  for (int32_t partition : {0, 1}) {
    std::vector<std::string> owed;
    REQUIRE(s->LoadPendingLists(partition, [&](const PendingListChange& p) { owed.emplace_back(p.user); }).ok());
    CHECK(owed == std::vector<std::string>{a});
  }
}
