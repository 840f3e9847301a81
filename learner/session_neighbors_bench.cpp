// Micro-benchmarks: the session neighbours' two reads on the pipeline's
// thread, on a table filled as the outside probe's traffic fills it (100,000
// users, uniform; items Zipf-like over 100,000; 20 events a user): a list's
// scores (Score: candidates, similarities, the scatter of the neighbours'
// items) and the blend's two features (ScoreItems: the same neighbours).
#include <benchmark/benchmark.h>

#include <algorithm>
#include <array>
#include <random>
#include <vector>

#include "learner/session_neighbors.h"

namespace {

constexpr uint32_t kUsers = 100000;
constexpr uint32_t kItems = 100000;
constexpr int kEventsPerUser = 20;

struct Filled {
  Filled() : sessions(streamrec::learner::SessionNeighborOptions{}), histories(kUsers) {
    std::mt19937_64 rng(11);
    int64_t ts = 1700000000000;
    for (int round = 0; round < kEventsPerUser; ++round) {
      for (uint32_t u = 0; u < kUsers; ++u) {
        const uint32_t user = static_cast<uint32_t>(rng() % kUsers);
        std::vector<streamrec::ItemId>& h = histories[user];
        const streamrec::ItemId item = SkewedItem(rng);
        if (std::find(h.begin(), h.end(), item) != h.end()) continue;
        h.push_back(item);
        sessions.Update(streamrec::UserId(user), h, ts++);
      }
    }
  }
  static streamrec::ItemId SkewedItem(std::mt19937_64& rng) {
    const uint64_t r = rng() % kItems;
    return streamrec::ItemId(static_cast<uint32_t>(r * r / kItems));
  }
  streamrec::learner::SessionNeighbors sessions;
  std::vector<std::vector<streamrec::ItemId>> histories;
};

Filled& Table() {
  static Filled filled;  // built once: ~2 million updates
  return filled;
}

void BM_Score(benchmark::State& state) {
  Filled& f = Table();
  std::mt19937_64 rng(3);
  size_t scored = 0;
  for (auto _ : state) {
    const auto user = static_cast<uint32_t>(rng() % kUsers);
    // A different user each time: the cache of the last answer never holds, as in the probe.
    scored += f.sessions.Score(streamrec::UserId(user), f.histories[user]).size();
  }
  benchmark::DoNotOptimize(scored);
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Score);

void BM_ScoreItems(benchmark::State& state) {
  Filled& f = Table();
  std::mt19937_64 rng(5);
  std::array<float, 2> out{};
  for (auto _ : state) {
    const auto user = static_cast<uint32_t>(rng() % kUsers);
    const std::array<streamrec::ItemId, 2> items = {Filled::SkewedItem(rng), Filled::SkewedItem(rng)};
    f.sessions.ScoreItems(streamrec::UserId(user), f.histories[user], items, out);
    benchmark::DoNotOptimize(out);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_ScoreItems);

}  // namespace
