// Micro-benchmarks: one micro-batch commit (users, items, offsets, counters in
// one WriteBatch, WAL on, no fsync) of 256 users at dimension 64; encoding a
// large window; the user cache's lookups in a million users.
#include <benchmark/benchmark.h>

#include <unistd.h>

#include <filesystem>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "store/store.h"
#include "store/user_cache.h"

namespace {

// A new store in a fresh temporary directory (`*path`); null, with the
// benchmark skipped, when it cannot be opened.
std::unique_ptr<streamrec::store::Store> OpenFreshStore(benchmark::State& state, std::string* path) {
  *path = (std::filesystem::temp_directory_path() / ("streamrec-store-bench-" + std::to_string(getpid()))).string();
  std::filesystem::remove_all(*path);
  streamrec::store::StoreOptions o;
  o.path = *path;
  std::unique_ptr<streamrec::store::Store> store;
  if (!streamrec::store::Store::Open(o, &store).ok()) {
    state.SkipWithError("cannot open the store");
    return nullptr;
  }
  return store;
}

void BM_Commit(benchmark::State& state) {
  const auto users_per_batch = static_cast<size_t>(state.range(0));
  std::string path;
  std::unique_ptr<streamrec::store::Store> store = OpenFreshStore(state, &path);
  if (!store) return;
  std::vector<std::string> names;
  std::vector<streamrec::UserRecord> users(users_per_batch);
  for (size_t u = 0; u < users_per_batch; ++u) {
    users[u].embedding.assign(64, 0.1F);
    users[u].history.assign(20, streamrec::ItemId(7));
  }
  int64_t offset = 0;
  uint64_t round = 0;
  for (auto _ : state) {
    streamrec::store::CommitBatch batch;
    names.clear();
    for (size_t u = 0; u < users_per_batch; ++u) names.push_back("u" + std::to_string(round * users_per_batch + u));
    for (size_t u = 0; u < users_per_batch; ++u) batch.users.push_back({names[u], &users[u]});
    offset += static_cast<int64_t>(users_per_batch);
    batch.offsets[{"events", 0}] = offset;
    if (!store->Commit(batch).ok()) state.SkipWithError("commit failed");
    ++round;
  }
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(users_per_batch));  // user records
  store.reset();
  std::filesystem::remove_all(path);
}
BENCHMARK(BM_Commit)->Arg(256)->Arg(4096)->Unit(benchmark::kMillisecond);

// Encoding alone (Store::Prepare, no write) of a large commit window: users
// with ids in random order and records scattered over the heap, as the
// pipeline's cache holds them (dimension 64, 100 history items).
void BM_Prepare(benchmark::State& state) {
  const auto users_per_batch = static_cast<size_t>(state.range(0));
  std::string path;
  std::unique_ptr<streamrec::store::Store> store = OpenFreshStore(state, &path);
  if (!store) return;
  std::mt19937_64 rng(1);
  std::vector<std::string> names;
  std::vector<std::unique_ptr<streamrec::UserRecord>> users;
  for (size_t u = 0; u < users_per_batch; ++u) {
    names.push_back("user-" + std::to_string(rng() % 10000000));
    users.push_back(std::make_unique<streamrec::UserRecord>());
    users.back()->embedding.assign(64, 0.1F);
    users.back()->history.assign(100, streamrec::ItemId(7));
    std::vector<float> spacer(static_cast<size_t>(rng() % 64));  // scatter the records
    benchmark::DoNotOptimize(spacer.data());
  }
  streamrec::store::CommitBatch batch;
  for (size_t u = 0; u < users_per_batch; ++u) batch.users.push_back({names[u], users[u].get()});
  streamrec::store::PreparedCommit prepared;
  for (auto _ : state) {
    store->Prepare(batch, &prepared);
    benchmark::DoNotOptimize(prepared.bytes());
  }
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(users_per_batch));  // user records
  store.reset();
  std::filesystem::remove_all(path);
}
BENCHMARK(BM_Prepare)->Arg(4096)->Arg(65536)->Unit(benchmark::kMillisecond);

// The user cache's lookups: 4,096 users a batch, drawn at random from the
// million it holds (as a batch of events finds them), with or without
// Prefetch()ing each one 8 lookups ahead as the pipeline does.
void BM_CacheAcquire(benchmark::State& state) {
  constexpr size_t kUsers = 1000000;
  constexpr size_t kBatch = 4096;
  constexpr size_t kAhead = 8;
  const bool prefetch = state.range(0) != 0;
  std::string path;
  std::unique_ptr<streamrec::store::Store> store = OpenFreshStore(state, &path);
  if (!store) return;
  streamrec::store::UserCache cache(store.get(), kUsers);
  std::vector<std::string> names;
  streamrec::store::CachedUser user;
  for (size_t u = 0; u < kUsers; ++u) {
    names.push_back("user-" + std::to_string(u * 7919 % 10000019));
    if (!cache.Acquire(names.back(), &user).ok()) state.SkipWithError("acquire failed");
    user.record->embedding.assign(64, 0.1F);
    if (u % kBatch == kBatch - 1) cache.EndBatch();
  }
  cache.EndBatch();
  std::mt19937_64 rng(3);
  std::vector<const std::string*> batch(kBatch);
  for (auto _ : state) {
    state.PauseTiming();
    for (const std::string*& name : batch) name = &names[rng() % kUsers];
    state.ResumeTiming();
    for (size_t k = 0; k < kBatch; ++k) {
      if (prefetch && k + kAhead < kBatch) cache.Prefetch(*batch[k + kAhead]);
      if (!cache.Acquire(*batch[k], &user).ok()) state.SkipWithError("acquire failed");
      benchmark::DoNotOptimize(user.record);
    }
    cache.EndBatch();
  }
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(kBatch));  // lookups
  store.reset();
  std::filesystem::remove_all(path);
}
BENCHMARK(BM_CacheAcquire)->Arg(0)->Arg(1)->Unit(benchmark::kMicrosecond);

}  // namespace
