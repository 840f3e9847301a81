// Micro-benchmarks: one online update (Learner::Observe: SGD step with
// negatives, co-occurrence, popularity) at dimensions 32 and 64 over 100k
// items, a new user's initial embedding (Learner::InitUser), which most
// events of a large, fresh user base pay, and a user's co-occurrence boosts
// (Learner::Boosts), which every list refresh pays on the pipeline's thread.
#include <benchmark/benchmark.h>

#include <random>
#include <string>
#include <vector>

#include "learner/learner.h"

namespace {

void BM_Observe(benchmark::State& state) {
  streamrec::learner::LearnerOptions o;
  o.dim = static_cast<int>(state.range(0));
  o.negatives = 5;
  streamrec::learner::Learner learner(o);
  constexpr int kItems = 100000;
  std::vector<streamrec::ItemId> items;
  for (int i = 0; i < kItems; ++i) items.push_back(learner.InternItem("i" + std::to_string(i)));
  std::vector<streamrec::UserRecord> users(1000);
  for (size_t u = 0; u < users.size(); ++u) {
    learner.InitUser("u" + std::to_string(u), streamrec::UserId(static_cast<uint32_t>(u)), &users[u]);
  }
  std::mt19937_64 rng(7);
  uint64_t k = 0;
  for (auto _ : state) {
    streamrec::UserRecord& user = users[rng() % users.size()];
    const uint64_t r = rng() % kItems;
    const streamrec::ItemId item = items[r * r / kItems];  // skewed towards popular (low) ids
    learner.Observe(&user, item, streamrec::EventType::kView, 1700000000000 + static_cast<int64_t>(k), k);
    ++k;
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Observe)->Arg(32)->Arg(64);

void BM_InitUser(benchmark::State& state) {
  streamrec::learner::LearnerOptions o;
  o.dim = static_cast<int>(state.range(0));
  streamrec::learner::Learner learner(o);
  std::vector<std::string> names;
  for (int u = 0; u < 4096; ++u) names.push_back("u" + std::to_string(u));
  streamrec::UserRecord user;
  size_t k = 0;
  for (auto _ : state) {
    learner.InitUser(names[k++ % names.size()], streamrec::UserId(0), &user);
    benchmark::DoNotOptimize(user.embedding.data());
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_InitUser)->Arg(32)->Arg(64);

// After 1M skewed events over 100k items and 20k users: the boosts of a
// user with a full co-occurrence window (with their sources, as lists need).
void BM_Boosts(benchmark::State& state) {
  streamrec::learner::LearnerOptions o;
  o.dim = 16;
  o.negatives = 1;
  streamrec::learner::Learner learner(o);
  constexpr int kItems = 100000;
  std::vector<streamrec::ItemId> items;
  for (int i = 0; i < kItems; ++i) items.push_back(learner.InternItem("i" + std::to_string(i)));
  std::vector<streamrec::UserRecord> users(20000);
  for (size_t u = 0; u < users.size(); ++u) {
    learner.InitUser("u" + std::to_string(u), streamrec::UserId(static_cast<uint32_t>(u)), &users[u]);
  }
  std::mt19937_64 rng(7);
  for (uint64_t k = 0; k < 1000000; ++k) {
    const uint64_t r = rng() % kItems;
    learner.Observe(&users[rng() % users.size()], items[r * r / kItems], streamrec::EventType::kView,
                    1700000000000 + static_cast<int64_t>(k), k);
  }
  std::vector<std::pair<streamrec::ItemId, float>> boosts;
  std::vector<streamrec::ItemId> sources;
  size_t k = 0;
  for (auto _ : state) {
    learner.Boosts(users[k++ % users.size()], &boosts, &sources);
    benchmark::DoNotOptimize(boosts.data());
  }
  state.SetItemsProcessed(state.iterations());  // users
}
BENCHMARK(BM_Boosts);

}  // namespace
