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

// Exact (as the emitter scores: batches of 64 users) against the index with
// exact re-ranking, on `view` for the query vectors `query(q)`, q < queries.
template <class QueryFn>
Status Compare(const ItemMatrixView& view, size_t queries_n, QueryFn query, AnnFigures* out) {
  out->items = view.rows;
  out->candidates = kCandidates;
  emitter::TopNScorer scorer(kTopN);
  std::vector<std::vector<emitter::ScoredItem>> exact(queries_n);
  std::vector<std::vector<emitter::ScoredItem>> batch_out;
  std::vector<emitter::TopNQuery> queries;
  auto start = Clock::now();
  for (size_t first = 0; first < queries_n; first += kBatch) {
    queries.clear();
    for (size_t q = first; q < std::min(queries_n, first + kBatch); ++q) queries.push_back({query(q), {}, {}});
    scorer.Score(view, queries, &batch_out);
    for (size_t k = 0; k < queries.size(); ++k) exact[first + k] = batch_out[k];
  }
  out->exact_lps = static_cast<double>(queries_n) / Seconds(Clock::now() - start);

  ModuleLogger("bench")->info("building the approximate index over {} items", view.rows);
  emitter::AnnIndex index(view.dim, emitter::AnnOptions{});
  start = Clock::now();
  STREAMREC_RETURN_IF_ERROR(index.Sync(view, {}, 2));
  out->build_seconds = Seconds(Clock::now() - start);

  std::vector<ItemId> candidates;
  std::vector<emitter::ScoredItem> approx;
  size_t hits = 0;
  size_t total = 0;
  start = Clock::now();
  for (size_t q = 0; q < queries_n; ++q) {
    index.Search(query(q), kCandidates, &candidates);
    emitter::RerankTopN(view, {query(q), {}, {}}, candidates, kTopN, &approx);
    total += exact[q].size();
    for (const emitter::ScoredItem& e : exact[q]) {
      for (const emitter::ScoredItem& a : approx) hits += a.item == e.item ? 1 : 0;
    }
  }
  out->ann_lps = static_cast<double>(queries_n) / Seconds(Clock::now() - start);
  out->recall_at_20 = total ? static_cast<double>(hits) / static_cast<double>(total) : 0;
  return Status::Ok();
}

}  // namespace

Status MeasureAnn(uint64_t items, int dim, AnnFigures* out) {
  const Catalogue cat(items, static_cast<size_t>(dim));
  return Compare(cat.view(), kQueries, [&](size_t q) { return cat.query(q); }, out);
}

Status MeasureAnnLearned(const ItemMatrixView& items, std::span<const float> queries, AnnFigures* out) {
  const size_t n = std::min(kQueries, queries.size() / std::max<size_t>(1, items.dim));
  return Compare(items, n, [&](size_t q) { return queries.subspan(q * items.dim, items.dim); }, out);
}

}  // namespace streamrec::bench
