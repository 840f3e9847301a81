// Micro-benchmarks: one online update (Learner::Observe: SGD step with
// negatives, co-occurrence, popularity) at dimensions 32 and 64 over 100k
// items, and a new user's initial embedding (Learner::InitUser), which most
// events of a large, fresh user base pay.
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

}  // namespace
