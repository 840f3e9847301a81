// Micro-benchmark: fused top-20 over 100k items for a batch of 64 users,
// exact and with bfloat16 candidates (rows converted on the fly, packed once
// by id, or by bound), on one and two threads, for users with and without a
// history, against the bare product of the same shapes (the ceiling, one
// thread); and the packings' own cost.
#include <benchmark/benchmark.h>

#include <cmath>
#include <random>
#include <vector>

#include "emitter/topn.h"

namespace {

constexpr size_t kItems = 100000;
constexpr size_t kBatch = 64;

// Items drawn alike (norms within a few per cent of each other), or, with
// `skewed`, as popularity shapes learned items: row norms log-normal and the
// per-item term larger for larger rows.
struct Fixture {
  explicit Fixture(size_t dim, bool skewed = false)
      : dim(dim), embeddings(kItems * dim), biases(kItems), queries(kBatch * dim) {
    std::mt19937 rng(3);
    std::normal_distribution<float> normal(0.0F, 0.1F);
    for (float& x : embeddings) x = normal(rng);
    for (float& x : biases) x = normal(rng);
    for (float& x : queries) x = normal(rng);
    for (size_t i = 0; skewed && i < kItems; ++i) {
      const float scale = std::exp(5.0F * normal(rng));
      for (size_t d = 0; d < dim; ++d) embeddings[i * dim + d] *= scale;
      biases[i] += 0.5F * std::log(scale);
    }
  }
  streamrec::ItemMatrixView view() const { return {embeddings.data(), biases.data(), kItems, dim}; }
  size_t dim;
  std::vector<float> embeddings, biases, queries;
};

// A user with a history: 200 items excluded and learner.max_boosts (256)
// co-occurrence boosts, scattered over the catalogue.
struct History {
  History() {
    std::mt19937 rng(5);
    std::uniform_int_distribution<uint32_t> item(0, kItems - 1);
    for (size_t k = 0; k < kBatch; ++k) {
      std::vector<streamrec::ItemId>& e = exclude.emplace_back();
      for (int i = 0; i < 200; ++i) e.push_back(streamrec::ItemId(item(rng)));
      std::vector<std::pair<streamrec::ItemId, float>>& b = boosts.emplace_back();
      for (int i = 0; i < 256; ++i) b.emplace_back(streamrec::ItemId(item(rng)), 0.01F);
    }
  }
  std::vector<std::vector<streamrec::ItemId>> exclude;
  std::vector<std::vector<std::pair<streamrec::ItemId, float>>> boosts;
};

enum class Packing { kNone, kById, kByBound };

void TopN(benchmark::State& state, streamrec::emitter::ScoringPrecision precision, Packing packing = Packing::kNone,
          bool history = false, bool skewed = false) {
  Fixture f(static_cast<size_t>(state.range(0)), skewed);
  const History h;
  streamrec::emitter::TopNScorer scorer(20, 4096, precision, static_cast<size_t>(state.range(1)));
  std::vector<streamrec::emitter::TopNQuery> queries;
  for (size_t k = 0; k < kBatch; ++k) {
    queries.push_back({{f.queries.data() + k * f.dim, f.dim}, {}, {}});
    if (history) {
      queries.back().exclude = h.exclude[k];
      queries.back().boosts = h.boosts[k];
    }
  }
  std::vector<std::vector<streamrec::emitter::ScoredItem>> out;
  streamrec::emitter::PackedItems items;
  if (packing == Packing::kById && streamrec::emitter::Bf16Available()) {
    streamrec::emitter::PackBf16Items(f.embeddings.data(), kItems, f.dim, &items);
  }
  if (packing == Packing::kByBound && streamrec::emitter::Bf16Available()) {
    const streamrec::emitter::ByBound order{f.biases.data(), streamrec::emitter::MedianQueryNorm(queries)};
    streamrec::emitter::PackBf16Items(f.embeddings.data(), kItems, f.dim, &items, order);
  }
  double scored = 0;
  for (auto _ : state) {
    scorer.Score(f.view(), queries, &out, packing != Packing::kNone ? &items : nullptr);
    scored += scorer.scored_fraction();
    benchmark::DoNotOptimize(out.data());
  }
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(kBatch));  // lists
  state.counters["scored"] = scored / static_cast<double>(state.iterations());  // share of item-user pairs
}

void BM_TopN(benchmark::State& state) { TopN(state, streamrec::emitter::ScoringPrecision::kFloat32); }
// Args: dimension, scoring threads.
BENCHMARK(BM_TopN)->Args({32, 1})->Args({64, 1})->Args({64, 2})->Unit(benchmark::kMillisecond);

// bfloat16 candidates (2n), re-scored in float32 (float32 where the CPU lacks AVX-512 BF16).
void BM_TopNBf16(benchmark::State& state) { TopN(state, streamrec::emitter::ScoringPrecision::kBFloat16); }
BENCHMARK(BM_TopNBf16)->Args({32, 1})->Args({64, 1})->Args({64, 2})->Unit(benchmark::kMillisecond);

// The same over items packed once (the emitter's copy of the items, shared by many products).
void BM_TopNBf16Packed(benchmark::State& state) {
  TopN(state, streamrec::emitter::ScoringPrecision::kBFloat16, Packing::kById);
}
BENCHMARK(BM_TopNBf16Packed)->Args({64, 1})->Unit(benchmark::kMillisecond);

// The same for users with a history (exclusions and boosts): the emitter's case.
void BM_TopNBf16History(benchmark::State& state) {
  TopN(state, streamrec::emitter::ScoringPrecision::kBFloat16, Packing::kById, /*history=*/true);
}
BENCHMARK(BM_TopNBf16History)->Args({64, 1})->Unit(benchmark::kMillisecond);

// Packed by bound, items drawn alike: nothing to skip, the overhead of trying.
void BM_TopNBf16ByBoundAlike(benchmark::State& state) {
  TopN(state, streamrec::emitter::ScoringPrecision::kBFloat16, Packing::kByBound, /*history=*/true);
}
BENCHMARK(BM_TopNBf16ByBoundAlike)->Args({64, 1})->Unit(benchmark::kMillisecond);

// Skewed items, packed by id and by bound (the emitter's case on learned items).
void BM_TopNBf16SkewedById(benchmark::State& state) {
  TopN(state, streamrec::emitter::ScoringPrecision::kBFloat16, Packing::kById, /*history=*/true, /*skewed=*/true);
}
BENCHMARK(BM_TopNBf16SkewedById)->Args({64, 1})->Unit(benchmark::kMillisecond);
void BM_TopNBf16SkewedByBound(benchmark::State& state) {
  TopN(state, streamrec::emitter::ScoringPrecision::kBFloat16, Packing::kByBound, /*history=*/true, /*skewed=*/true);
}
BENCHMARK(BM_TopNBf16SkewedByBound)->Args({64, 1})->Unit(benchmark::kMillisecond);

// Packing the 100k items: by id, and by bound (norms, a sort, rows gathered).
void Pack(benchmark::State& state, bool by_bound) {
  if (!streamrec::emitter::Bf16Available()) {
    state.SkipWithError("no AVX-512 BF16 on this CPU");
    return;
  }
  Fixture f(static_cast<size_t>(state.range(0)), /*skewed=*/true);
  streamrec::emitter::PackedItems items;
  for (auto _ : state) {
    if (by_bound) {
      streamrec::emitter::PackBf16Items(f.embeddings.data(), kItems, f.dim, &items, {f.biases.data(), 1.0F});
    } else {
      streamrec::emitter::PackBf16Items(f.embeddings.data(), kItems, f.dim, &items);
    }
    benchmark::DoNotOptimize(items.words());
  }
}
void BM_PackById(benchmark::State& state) { Pack(state, false); }
BENCHMARK(BM_PackById)->Arg(64)->Unit(benchmark::kMillisecond);
void BM_PackByBound(benchmark::State& state) { Pack(state, true); }
BENCHMARK(BM_PackByBound)->Arg(64)->Unit(benchmark::kMillisecond);

void BM_BareProduct(benchmark::State& state) {
  Fixture f(static_cast<size_t>(state.range(0)));
  std::vector<float> scratch;
  for (auto _ : state) {
    benchmark::DoNotOptimize(streamrec::emitter::ScoreWithoutSelection(f.view(), f.queries, kBatch, 4096, &scratch));
  }
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(kBatch));  // lists
}
BENCHMARK(BM_BareProduct)->Arg(32)->Arg(64)->Unit(benchmark::kMillisecond);

}  // namespace
