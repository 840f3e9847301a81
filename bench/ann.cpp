#include "bench/ann.h"

#include <chrono>
#include <random>
#include <vector>

#include "common/logging.h"
#include "emitter/ann_index.h"
#include "emitter/topn.h"

namespace streamrec::bench {
namespace {

using Clock = std::chrono::steady_clock;

constexpr size_t kClusters = 1000;
constexpr size_t kQueries = 256;
constexpr size_t kBatch = 64;
constexpr size_t kTopN = 20;
constexpr size_t kCandidates = 40;

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

struct Catalogue {
  Catalogue(uint64_t rows, size_t dim) : dim(dim) {
    std::mt19937 rng(17);
    std::normal_distribution<float> n;
    centres.resize(kClusters * dim);
    for (float& c : centres) c = 0.3F * n(rng);
    emb.resize(rows * dim);
    bias.resize(rows);
    for (size_t i = 0; i < rows; ++i) {
      const size_t c = i % kClusters;
      for (size_t d = 0; d < dim; ++d) emb[i * dim + d] = centres[c * dim + d] + 0.15F * n(rng);
      bias[i] = 0.1F * n(rng);
    }
    queries.resize(kQueries * dim);
    for (size_t q = 0; q < kQueries; ++q) {
      const size_t c = (q * 7919) % kClusters;
      for (size_t d = 0; d < dim; ++d) queries[q * dim + d] = 3.0F * centres[c * dim + d] + 0.3F * n(rng);
    }
  }
  ItemMatrixView view() const { return {emb.data(), bias.data(), bias.size(), dim}; }
  std::span<const float> query(size_t q) const { return {queries.data() + q * dim, dim}; }

  size_t dim;
  std::vector<float> centres;
  std::vector<float> emb;
  std::vector<float> bias;
  std::vector<float> queries;
};

}  // namespace

Status MeasureAnn(uint64_t items, int dim, AnnFigures* out) {
  auto log = ModuleLogger("bench");
  const Catalogue cat(items, static_cast<size_t>(dim));
  out->items = items;
  out->candidates = kCandidates;

  // Exact, as the emitter scores: batches of 64 users.
  emitter::TopNScorer scorer(kTopN);
  std::vector<std::vector<emitter::ScoredItem>> exact(kQueries);
  std::vector<std::vector<emitter::ScoredItem>> batch_out;
  std::vector<emitter::TopNQuery> queries;
  auto start = Clock::now();
  for (size_t first = 0; first < kQueries; first += kBatch) {
    queries.clear();
    for (size_t q = first; q < first + kBatch; ++q) queries.push_back({cat.query(q), {}, {}});
    scorer.Score(cat.view(), queries, &batch_out);
    for (size_t k = 0; k < kBatch; ++k) exact[first + k] = batch_out[k];
  }
  out->exact_lps = static_cast<double>(kQueries) / Seconds(Clock::now() - start);

  log->info("building the approximate index over {} items", items);
  emitter::AnnIndex index(static_cast<size_t>(dim), emitter::AnnOptions{});
  start = Clock::now();
  STREAMREC_RETURN_IF_ERROR(index.Sync(cat.view(), {}, 2));
  out->build_seconds = Seconds(Clock::now() - start);

  std::vector<ItemId> candidates;
  std::vector<emitter::ScoredItem> approx;
  size_t hits = 0;
  start = Clock::now();
  for (size_t q = 0; q < kQueries; ++q) {
    index.Search(cat.query(q), kCandidates, &candidates);
    emitter::RerankTopN(cat.view(), {cat.query(q), {}, {}}, candidates, kTopN, &approx);
    for (const emitter::ScoredItem& e : exact[q]) {
      for (const emitter::ScoredItem& a : approx) hits += a.item == e.item ? 1 : 0;
    }
  }
  out->ann_lps = static_cast<double>(kQueries) / Seconds(Clock::now() - start);
  out->recall_at_20 = static_cast<double>(hits) / static_cast<double>(kQueries * kTopN);
  return Status::Ok();
}

}  // namespace streamrec::bench
