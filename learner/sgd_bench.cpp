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

constexpr int kItems = 100000;

// A learner with kItems items and `user_count` new users.
struct Population {
  Population(int dim, int negatives, size_t user_count) : learner(Options(dim, negatives)), users(user_count) {
    for (int i = 0; i < kItems; ++i) items.push_back(*learner.InternItem("i" + std::to_string(i)));
    for (size_t u = 0; u < users.size(); ++u) {
      learner.InitUser("u" + std::to_string(u), streamrec::UserId(static_cast<uint32_t>(u)), &users[u]);
    }
  }
  static streamrec::learner::LearnerOptions Options(int dim, int negatives) {
    streamrec::learner::LearnerOptions o;
    o.dim = dim;
    o.negatives = negatives;
    return o;
  }
  // An item skewed towards popular (low) ids.
  streamrec::ItemId SkewedItem(std::mt19937_64& rng) const {
    const uint64_t r = rng() % kItems;
    return items[r * r / kItems];
  }
  streamrec::learner::Learner learner;
  std::vector<streamrec::ItemId> items;
  std::vector<streamrec::UserRecord> users;
};

void BM_Observe(benchmark::State& state) {
  Population p(static_cast<int>(state.range(0)), 5, 1000);
  std::mt19937_64 rng(7);
  uint64_t k = 0;
  for (auto _ : state) {
    streamrec::UserRecord& user = p.users[rng() % p.users.size()];
    const streamrec::ItemId item = p.SkewedItem(rng);
    p.learner.Observe(&user, item, streamrec::EventType::kView, 1700000000000 + static_cast<int64_t>(k), k);
    ++k;
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Observe)->Arg(32)->Arg(64);

// On mature state: after 300k skewed events over 100k items and 20k users
// (the popular items' co-occurrence rows full), one more event each time: what
// a shop with returning users pays per event, mostly in the rows' updates.
void BM_ObserveMature(benchmark::State& state) {
  Population p(32, 5, 20000);
  std::mt19937_64 rng(7);
  uint64_t k = 0;
  for (; k < 300000; ++k) {
    streamrec::UserRecord& user = p.users[rng() % p.users.size()];
    p.learner.Observe(&user, p.SkewedItem(rng), streamrec::EventType::kView, 1700000000000 + static_cast<int64_t>(k), k);
  }
  for (auto _ : state) {
    streamrec::UserRecord& user = p.users[rng() % p.users.size()];
    p.learner.Observe(&user, p.SkewedItem(rng), streamrec::EventType::kView, 1700000000000 + static_cast<int64_t>(k), k);
    ++k;
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_ObserveMature);

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
  Population p(16, 1, 20000);
  std::mt19937_64 rng(7);
  for (uint64_t k = 0; k < 1000000; ++k) {
    streamrec::UserRecord& user = p.users[rng() % p.users.size()];
    p.learner.Observe(&user, p.SkewedItem(rng), streamrec::EventType::kView, 1700000000000 + static_cast<int64_t>(k), k);
  }
  std::vector<std::pair<streamrec::ItemId, float>> boosts;
  size_t k = 0;
  for (auto _ : state) {
    const streamrec::UserRecord& user = p.users[k++ % p.users.size()];
    p.learner.Boosts(user, &boosts);
    // As a list does: the sources of the (up to) 20 items it shows.
    for (size_t i = 0; i < std::min<size_t>(20, boosts.size()); ++i) {
      benchmark::DoNotOptimize(p.learner.BoostSource(user, boosts[i].first));
    }
    benchmark::DoNotOptimize(boosts.data());
  }
  state.SetItemsProcessed(state.iterations());  // users
}
BENCHMARK(BM_Boosts);

}  // namespace
