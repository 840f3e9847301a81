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