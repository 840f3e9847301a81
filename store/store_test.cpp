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
#include "store/user_cache.h"

using namespace streamrec;
using namespace streamrec::store;

namespace {

std::string FreshDir(const std::string& name) {
  auto dir = std::filesystem::temp_directory_path() / ("streamrec_" + name + "_" + std::to_string(getpid()));
  std::filesystem::remove_all(dir);
  return dir.string();
}

// A small store whose writes fail while faults->fail_writes is set.
StoreOptions FaultyStoreOptions(const std::string& path) {
  StoreOptions o;
  o.path = path;
  o.block_cache_mb = 8;
  o.write_buffer_mb = 4;
  o.faults = std::make_shared<StoreFaults>();
  return o;
}

// As the pipeline does: retries while the error is retryable (RocksDB may still be recovering).
template <class Fn>
Status RetryWhileRetryable(Fn attempt) {
  Status s = attempt();
  for (int tries = 0; tries < 100 && !s.ok() && s.retryable(); ++tries) {
    usleep(50000);
    s = attempt();
  }
  return s;
}

UserRecord MakeUser(uint32_t id, uint64_t events) {
  UserRecord u;
  u.id = UserId(id);
  u.seq = events / 2;
  u.events = events;
  u.embedding = {0.5F, -1.25F, 3.0F, static_cast<float>(events)};
  u.history = {ItemId(3), ItemId(1)};
  u.purchased = {ItemId(1)};
  u.list = {ItemId(8), ItemId(9)};
  return u;
}

ItemRecord MakeItem(uint32_t id, const std::string& ext) {
  ItemRecord i;
  i.id = ItemId(id);
  i.external_id = ext;
  i.bias = 0.25F;
  i.count = 7;
  i.recency = 2812.5F;
  i.embedding = {1.0F, 2.0F, 3.0F, 4.0F};
  i.neighbors = {{ItemId(9), 2.5F}, {ItemId(4), 1.0F}};
  return i;
}

std::unique_ptr<Store> OpenStore(const std::string& path) {
  StoreOptions o;
  o.path = path;
  o.block_cache_mb = 8;
  o.write_buffer_mb = 4;
  std::unique_ptr<Store> s;
  Status st = Store::Open(o, &s);
  INFO(st.ToString());
  REQUIRE(st.ok());
  return s;
}

}  // namespace

TEST_CASE("store: write, reopen, read back") {
  const std::string path = FreshDir("reopen");
  UserRecord alice = MakeUser(0, 10);
  {
    auto s = OpenStore(path);
    REQUIRE(s->CheckDimension(4).ok());
    CommitBatch b;
    b.users.push_back({"alice", &alice});
    b.items = {MakeItem(0, "x"), MakeItem(1, "y\xff")};
    b.offsets[{"events", 2}] = 100;
    b.counters = {.applied_events = 10, .rejected_events = 1, .next_user_id = 1};
    REQUIRE(s->Commit(b).ok());
  }
  auto s = OpenStore(path);
  CHECK(s->CheckDimension(8).code() == StatusCode::kInvalidArgument);
  UserRecord got;
  bool found = false;
  REQUIRE(s->GetUser("alice", &got, &found).ok());
  REQUIRE(found);
  CHECK(got.id == alice.id);
  CHECK(got.seq == alice.seq);
  CHECK(got.embedding == alice.embedding);
  CHECK(got.history == alice.history);
  CHECK(got.purchased == alice.purchased);
  CHECK(got.list == alice.list);
  REQUIRE(s->GetUser("bob", &got, &found).ok());
  CHECK_FALSE(found);
  std::vector<ItemRecord> items;
  REQUIRE(s->LoadItems([&](const ItemRecord& r) { items.push_back(r); }).ok());
  REQUIRE(items.size() == 2);
  CHECK(items[1].external_id == "y\xff");
  CHECK(items[1].embedding == MakeItem(1, "").embedding);
  CHECK(items[1].neighbors == MakeItem(1, "").neighbors);
  CHECK(items[1].recency == 2812.5F);
  Offsets offsets;
  REQUIRE(s->ReadOffsets(&offsets).ok());
  CHECK(offsets.at({"events", 2}) == 100);
  StateSummary summary;
  REQUIRE(s->Summarize(&summary).ok());
  CHECK(summary.counters.applied_events == 10);
  CHECK(summary.counters.next_user_id == 1);
  CHECK(summary.users == 1);
  CHECK(summary.items == 2);
  CHECK(summary.checksum.size() == 16);
}

// Writes `user` under `id` as stores before commit 3b83dba did: the record in
// user_embeddings, its item lists under the same key in user_history.
// Puts values straight into a closed store's column families (name, key, value).
void PutRaw(const std::string& path, const std::vector<std::array<std::string, 3>>& puts) {
  std::vector<std::string> names;
  REQUIRE(rocksdb::DB::ListColumnFamilies(rocksdb::DBOptions(), path, &names).ok());
  std::vector<rocksdb::ColumnFamilyDescriptor> families;
  for (const std::string& name : names) families.emplace_back(name, rocksdb::ColumnFamilyOptions());
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* raw = nullptr;
  REQUIRE(rocksdb::DB::Open(rocksdb::DBOptions(), path, families, &handles, &raw).ok());
  std::unique_ptr<rocksdb::DB> db(raw);
  for (const auto& [family, key, value] : puts) {
    const auto named = std::find(names.begin(), names.end(), family);
    REQUIRE(named != names.end());
    REQUIRE(db->Put(rocksdb::WriteOptions(), handles[static_cast<size_t>(named - names.begin())], key, value).ok());
  }
  for (rocksdb::ColumnFamilyHandle* h : handles) REQUIRE(db->DestroyColumnFamilyHandle(h).ok());
  REQUIRE(db->Close().ok());
}

void WriteLegacyUser(const std::string& path, const std::string& id, const UserRecord& user) {
  std::string record;
  std::string lists;
  codec::EncodeLegacyUser(user, &record, &lists);
  PutRaw(path, {{"user_embeddings", id, record}, {"user_history", id, lists}});
}

TEST_CASE("store: a user written by an older streamrec (lists in user_history) reads back whole") {
  const std::string path = FreshDir("legacy");
  OpenStore(path).reset();  // creates the column families
  const UserRecord old = MakeUser(4, 6);
  WriteLegacyUser(path, "carol", old);
  auto s = OpenStore(path);
  UserRecord got;
  bool found = false;
  REQUIRE(s->GetUser("carol", &got, &found).ok());
  REQUIRE(found);
  CHECK(got.embedding == old.embedding);
  CHECK(got.history == old.history);
  CHECK(got.purchased == old.purchased);
  CHECK(got.list == old.list);
  // Written again, the user is one record; the stale user_history value is not read.
  UserRecord changed = old;
  changed.history = {ItemId(5)};
  changed.list.clear();
  CommitBatch b;
  b.users.push_back({"carol", &changed});
  REQUIRE(s->Commit(b).ok());
  REQUIRE(s->GetUser("carol", &got, &found).ok());
  CHECK(got.history == changed.history);
  CHECK(got.list.empty());
  CHECK(got.purchased == old.purchased);
}

std::vector<ItemRecord> LoadAll(Store* s) {
  std::vector<ItemRecord> items;
  REQUIRE(s->LoadItems([&](const ItemRecord& r) { items.push_back(r); }).ok());
  return items;
}

TEST_CASE("store: an item written without its rows keeps the stored ones; older records' rows move") {
  const std::string path = FreshDir("item_rows");
  OpenStore(path).reset();  // creates the column families
  ItemRecord legacy = MakeItem(3, "old");
  legacy.basket_neighbors = {{ItemId(1), 1.0F}};
  std::string value;
  codec::EncodeLegacyItem(legacy, &value);
  PutRaw(path, {{"item_embeddings", codec::EncodeItemKey(legacy.id), value}});
  auto s = OpenStore(path);
  std::vector<ItemRecord> items = LoadAll(s.get());
  REQUIRE(items.size() == 1);
  CHECK(items[0].neighbors == legacy.neighbors);
  CHECK(items[0].basket_neighbors == legacy.basket_neighbors);
  // Only the embedding changed: the rows, moved by the load, stay.
  ItemRecord moved = MakeItem(3, "old");
  moved.embedding = {9.0F, 9.0F, 9.0F, 9.0F};
  moved.neighbors.clear();
  moved.with_neighbors = false;
  ItemRecord fresh = MakeItem(5, "new");
  CommitBatch b;
  b.items = {moved, fresh};
  REQUIRE(s->Commit(b).ok());
  s.reset();
  s = OpenStore(path);
  items = LoadAll(s.get());
  REQUIRE(items.size() == 2);
  CHECK(items[0].embedding == moved.embedding);
  CHECK(items[0].neighbors == legacy.neighbors);
  CHECK(items[0].basket_neighbors == legacy.basket_neighbors);
  CHECK(items[1].neighbors == fresh.neighbors);
  // New rows replace the old; an item written without rows afterwards keeps them.
  fresh.neighbors = {{ItemId(3), 4.0F}};
  b.items = {fresh};
  REQUIRE(s->Commit(b).ok());
  fresh.bias = 1.5F;
  fresh.neighbors.clear();
  fresh.with_neighbors = false;
  b.items = {fresh};
  REQUIRE(s->Commit(b).ok());
  items = LoadAll(s.get());
  REQUIRE(items.size() == 2);
  CHECK(items[1].bias == 1.5F);
  CHECK(items[1].neighbors == std::vector<std::pair<ItemId, float>>{{ItemId(3), 4.0F}});
}

TEST_CASE("store: the checksum changes with any embedding") {
  const std::string p1 = FreshDir("sum1"), p2 = FreshDir("sum2");
  UserRecord a = MakeUser(0, 1), b = MakeUser(0, 1);
  b.embedding[0] += 1e-6F;
  std::string sums[2];
  int k = 0;
  for (auto [path, user] : {std::pair{p1, &a}, std::pair{p2, &b}}) {
    auto s = OpenStore(path);
    CommitBatch batch;
    batch.users.push_back({"u", user});
    REQUIRE(s->Commit(batch).ok());
    StateSummary sum;
    REQUIRE(s->Summarize(&sum).ok());
    sums[k++] = sum.checksum;
  }
  CHECK(sums[0] != sums[1]);
}

TEST_CASE("store: state and offsets survive SIGKILL together") {
  // A child commits batches where the user's event count equals the stored
  // offset; it is killed at a random moment. The two must agree after reopen.
#if defined(__SANITIZE_THREAD__)
  // TSan does not support fork() once threads (RocksDB's) exist; ASan and plain builds run it.
  SUCCEED("skipped under ThreadSanitizer");
  return;
#endif
  const std::string path = FreshDir("kill");
  std::mt19937 rng(1);
  for (int round = 0; round < 5; ++round) {
    int ready[2];
    REQUIRE(pipe(ready) == 0);
    pid_t child = fork();
    REQUIRE(child >= 0);
    if (child == 0) {
      close(ready[0]);
      StoreOptions o;
      o.path = path;
      std::unique_ptr<Store> s;
      if (!Store::Open(o, &s).ok()) _exit(3);
      Offsets offsets;
      if (!s->ReadOffsets(&offsets).ok()) _exit(4);
      int64_t next = offsets.count({"events", 0}) ? offsets[{"events", 0}] : 0;
      for (;;) {
        ++next;
        UserRecord u = MakeUser(0, static_cast<uint64_t>(next));
        CommitBatch b;
        b.users.push_back({"u", &u});
        b.offsets[{"events", 0}] = next;
        b.counters.applied_events = static_cast<uint64_t>(next);
        if (!s->Commit(b).ok()) _exit(5);
        if (ready[1] >= 0) {  // tell the parent the first commit is done
          (void)!write(ready[1], "x", 1);
          close(ready[1]);
          ready[1] = -1;
        }
      }
    }
    close(ready[1]);
    char byte = 0;
    REQUIRE(read(ready[0], &byte, 1) == 1);  // killed only once it has committed something
    close(ready[0]);
    usleep(rng() % 200000);
    kill(child, SIGKILL);
    int status = 0;
    waitpid(child, &status, 0);
    REQUIRE(WIFSIGNALED(status));

    auto s = OpenStore(path);
    Offsets offsets;
    REQUIRE(s->ReadOffsets(&offsets).ok());
    UserRecord u;
    bool found = false;
    REQUIRE(s->GetUser("u", &u, &found).ok());
    REQUIRE(found);
    CHECK(static_cast<int64_t>(u.events) == offsets.at({"events", 0}));
    StoreCounters c;
    REQUIRE(s->ReadCounters(&c).ok());
    CHECK(static_cast<int64_t>(c.applied_events) == offsets.at({"events", 0}));
  }
}

TEST_CASE("user cache: bounded, loads through, evicts only after commit") {
  const std::string path = FreshDir("cache");
  auto s = OpenStore(path);
  UserCache cache(s.get(), 2);
  CachedUser cu;
  for (const char* name : {"a", "b", "c"}) {
    REQUIRE(cache.Acquire(name, &cu).ok());
    CHECK(cu.is_new);
    *cu.record = MakeUser(static_cast<uint32_t>(name[0]), 5);
  }
  REQUIRE(cache.Acquire("a", &cu).ok());  // again in the same batch: touched once
  CHECK(cache.touched().size() == 3);
  CHECK(cache.size() == 3);  // nothing evicted mid-batch

  CommitBatch b;
  for (const CachedUser& t : cache.touched()) b.users.push_back({t.external_id, t.record});
  REQUIRE(s->Commit(b).ok());
  cache.EndBatch();
  CHECK(cache.size() == 2);
  CHECK(cache.touched().empty());

  // "b" was least recently used: evicted, then loaded back from the store.
  REQUIRE(cache.Acquire("b", &cu).ok());
  CHECK_FALSE(cu.is_new);
  CHECK(cu.record->events == 5);
  CHECK(cache.misses() == 4);
  CHECK(cache.hits() == 1);
}

TEST_CASE("user cache: least recently used go first; a freed slot serves a new user with a clean record") {
  const std::string path = FreshDir("cache_reuse");
  auto s = OpenStore(path);
  UserCache cache(s.get(), 3);
  CachedUser cu;
  auto commit_batch = [&] {
    CommitBatch b;
    for (const CachedUser& t : cache.touched()) b.users.push_back({t.external_id, t.record});
    REQUIRE(s->Commit(b).ok());
    cache.EndBatch();
  };
  for (uint32_t i = 0; i < 40; ++i) {
    REQUIRE(cache.Acquire("user-" + std::to_string(i), &cu).ok());
    REQUIRE(cu.is_new);
    *cu.record = MakeUser(i, 100 + i);
    cu.record->basket = {ItemId(4)};
    if (i >= 37) REQUIRE(cache.Acquire("user-0", &cu).ok());  // kept recent from then on
    commit_batch();
  }
  CHECK(cache.size() == 3);
  const uint64_t misses = cache.misses();
  for (const char* kept : {"user-0", "user-38", "user-39"}) {
    REQUIRE(cache.Acquire(kept, &cu).ok());
    CHECK_FALSE(cu.is_new);
  }
  CHECK(cache.misses() == misses);
  // A new user takes an evicted user's slot: nothing of that user remains.
  REQUIRE(cache.Acquire("newcomer", &cu).ok());
  CHECK(cu.is_new);
  CHECK(cu.external_id == "newcomer");
  CHECK(cu.record->events == 0);
  CHECK(cu.record->embedding.empty());
  CHECK(cu.record->history.empty());
  CHECK(cu.record->purchased.empty());
  CHECK(cu.record->basket.empty());
  CHECK(cu.record->list.empty());
  commit_batch();
  // An evicted user reads back from the store whole.
  REQUIRE(cache.Acquire("user-37", &cu).ok());
  CHECK_FALSE(cu.is_new);
  CHECK(cu.record->events == 137);
  CHECK(cu.record->basket == std::vector<ItemId>{ItemId(4)});
  cache.Clear();
  CHECK(cache.size() == 0);
  REQUIRE(cache.Acquire("user-39", &cu).ok());
  CHECK_FALSE(cu.is_new);
  CHECK(cu.record->events == 139);
}

TEST_CASE("user cache: a sealed batch's users stay cached until its write is done") {
  const std::string path = FreshDir("cache_sealed");
  auto s = OpenStore(path);
  UserCache cache(s.get(), 1);
  CachedUser cu;
  for (const char* name : {"a", "b"}) REQUIRE(cache.Acquire(name, &cu).ok());
  const uint64_t first = cache.SealBatch();
  CHECK(cache.touched().empty());
  cache.Evict(first - 1);  // the first batch's write is still in flight
  CHECK(cache.size() == 2);
  REQUIRE(cache.Acquire("c", &cu).ok());
  const uint64_t second = cache.SealBatch();
  CHECK(second == first + 1);
  cache.Evict(first);  // a and b are written, c is not
  CHECK(cache.size() == 1);
  REQUIRE(cache.Acquire("c", &cu).ok());
  CHECK(cache.hits() == 1);  // c stayed, though beyond capacity while unwritten
  cache.Evict(second);
  CHECK(cache.size() == 1);
}


TEST_CASE("user cache: sealed for copy, the write holds the records as they were at the seal") {
  const std::string path = FreshDir("cache_copy");
  auto s = OpenStore(path);
  UserCache cache(s.get(), 100);
  CachedUser cu;
  const std::vector<std::string> names = {"a", "b", "c", "d", "e"};
  for (size_t i = 0; i < names.size(); ++i) {
    REQUIRE(cache.Acquire(names[i], &cu).ok());
    *cu.record = MakeUser(static_cast<uint32_t>(i), 10 + i);
  }
  const uint64_t sealed = cache.SealForCopy();
  CHECK(cache.touched().empty());
  CHECK_FALSE(cache.CopySealed(2));  // a and b; c, d, e still to copy
  // The next batch changes d (not copied yet) and a (copied): d is copied first.
  for (const char* name : {"d", "a"}) {
    REQUIRE(cache.Acquire(name, &cu).ok());
    cu.record->events = 99;
    cu.record->history.push_back(ItemId(7));
  }
  cache.Evict(sealed - 1);
  CHECK(cache.size() == 5);
  CHECK(cache.CopySealed(SIZE_MAX));
  std::vector<UserCopy> copies;
  cache.TakeSealed(&copies);
  REQUIRE(copies.size() == names.size());

  PreparedCommit prepared;
  s->Prepare(CommitBatch{}, &prepared);
  prepared.DeferUsers(&copies);
  CHECK(copies.empty());  // swapped with the commit's previous (no) copies
  REQUIRE(s->Write(&prepared).ok());
  CHECK(prepared.entries() >= names.size());
  for (size_t i = 0; i < names.size(); ++i) {
    UserRecord stored;
    bool found = false;
    REQUIRE(s->GetUser(names[i], &stored, &found).ok());
    REQUIRE(found);
    CHECK(stored.events == 10 + i);
    CHECK(stored.history == MakeUser(static_cast<uint32_t>(i), 10 + i).history);
  }
  // The live records kept the next batch's changes.
  REQUIRE(cache.Acquire("d", &cu).ok());
  CHECK(cu.record->events == 99);
}
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
    CHECK(commit->entries() == 7);  // the deferred item (record and rows) encoded once, though written twice
    std::vector<ItemRecord> items;
    REQUIRE(s->LoadItems([&](const ItemRecord& r) { items.push_back(r); }).ok());
    REQUIRE(items.size() == 1);
    CHECK(items[0].external_id == "deferred");
    CHECK(items[0].neighbors == MakeItem(3, "").neighbors);

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

TEST_CASE("store: a full disk fails the commit (retryably) and the store resumes once space returns") {
  const std::string path = FreshDir("nospace");
  StoreOptions o = FaultyStoreOptions(path);
  {
    std::unique_ptr<Store> s;
    REQUIRE(Store::Open(o, &s).ok());
    auto commit = [&](int64_t offset) {
      UserRecord u = MakeUser(0, static_cast<uint64_t>(offset));
      CommitBatch b;
      b.users.push_back({"u", &u});
      b.offsets[{"events", 0}] = offset;
      b.counters.applied_events = static_cast<uint64_t>(offset);
      return s->Commit(b);
    };
    REQUIRE(commit(10).ok());
    o.faults->fail_writes = true;
    Status failed = commit(20);
    CHECK(failed.code() == StatusCode::kIOError);
    CHECK(failed.retryable());
    Status again = commit(20);  // still full: still refused, still retryable
    CHECK_FALSE(again.ok());
    CHECK(again.retryable());
    Offsets offsets;
    REQUIRE(s->ReadOffsets(&offsets).ok());
    CHECK(offsets.at({"events", 0}) == 10);  // nothing moved past the unwritten state
    o.faults->fail_writes = false;
    Status resumed = RetryWhileRetryable([&] { return commit(20); });
    INFO(resumed.ToString());
    CHECK(resumed.ok());
  }
  o.faults.reset();
  auto s = OpenStore(path);
  Offsets offsets;
  REQUIRE(s->ReadOffsets(&offsets).ok());
  CHECK(offsets.at({"events", 0}) == 20);
  UserRecord u;
  bool found = false;
  REQUIRE(s->GetUser("u", &u, &found).ok());
  CHECK(u.events == 20);
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

TEST_CASE("store: the disk measure counts live state, not deletes left in a moved file") {
  const std::string path = FreshDir("measure_disk");
  auto s = OpenStore(path);
  std::vector<std::string> names;
  for (int u = 0; u < 2000; ++u) names.push_back("user-" + std::to_string(u));
  CommitBatch owe;
  CommitBatch deliver;
  for (const std::string& n : names) {
    owe.pending.push_back({n, 0, 1, 1000, true, true});
    deliver.pending.push_back({n, 0, 1, 1000, false});
  }
  REQUIRE(s->Commit(owe).ok());
  REQUIRE(s->Commit(deliver).ok());
  DiskUsage disk;
  REQUIRE(s->MeasureDisk(&disk).ok());
  CHECK(disk.user_bytes == 0);  // every owed entry was deleted: nothing of users is left
}
