#include "bench/scoring.h"

#include <malloc.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <string>
#include <vector>

#include "emitter/scoring_threads.h"
#include "emitter/topn.h"
#include "learner/learner.h"
#include "store/store.h"
#include "store/user_cache.h"
#include "traffic/generator.h"

namespace streamrec::bench {
namespace {

using Clock = std::chrono::steady_clock;
constexpr size_t kSampleUsers = 2048;
constexpr double kMinSeconds = 1.0;

// Bytes the allocator has handed out: unlike RSS, not hidden by memory that
// earlier phases freed and the allocator reuses.
// Under a sanitizer's allocator mallinfo2 reports nothing: resident pages then.
double HeapBytes() {
  const struct mallinfo2 info = mallinfo2();
  if (info.uordblks + info.hblkhd > 0) return static_cast<double>(info.uordblks + info.hblkhd);
  std::ifstream statm("/proc/self/statm");
  double pages = 0;
  double resident = 0;
  statm >> pages >> resident;
  return resident * static_cast<double>(sysconf(_SC_PAGESIZE));
}

// Repeats `pass` (which scores every sampled user once) for at least kMinSeconds; lists/s.
template <class Fn>
double ListsPerSecond(size_t users, Fn pass) {
  const auto start = Clock::now();
  size_t lists = 0;
  do {
    pass();
    lists += users;
  } while (std::chrono::duration<double>(Clock::now() - start).count() < kMinSeconds);
  return static_cast<double>(lists) / std::chrono::duration<double>(Clock::now() - start).count();
}

// The share of the items of `exact` lists that `got` holds.
double Recall(const std::vector<std::vector<emitter::ScoredItem>>& exact,
              const std::vector<std::vector<emitter::ScoredItem>>& got) {
  size_t found = 0;
  size_t total = 0;
  for (size_t u = 0; u < exact.size(); ++u) {
    total += exact[u].size();
    for (const emitter::ScoredItem& e : exact[u]) {
      for (const emitter::ScoredItem& r : got[u]) found += r.item == e.item ? 1 : 0;
    }
  }
  return total ? static_cast<double>(found) / static_cast<double>(total) : 0;
}

}  // namespace

Status MeasureScoring(const config::Config& config, uint64_t users, ScoringFigures* out, AnnFigures* learned_ann) {
  std::unique_ptr<store::Store> store;
  STREAMREC_RETURN_IF_ERROR(store::Store::Open(config.store, &store));
  const double before_items = HeapBytes();
  learner::Learner learner(config.learner);
  size_t items = 0;
  STREAMREC_RETURN_IF_ERROR(store->LoadItems([&](const ItemRecord& r) {
    learner.RestoreItem(r);
    ++items;
  }));
  out->bytes_per_item = items ? (HeapBytes() - before_items) / static_cast<double>(items) : 0;

  // Memory per cached user: load every stored user into a cache big enough for all.
  const double before_users = HeapBytes();
  store::UserCache cache(store.get(), users);
  std::vector<UserRecord*> sample;
  for (uint64_t u = 0; u < users; ++u) {
    store::CachedUser cu;
    STREAMREC_RETURN_IF_ERROR(cache.Acquire(traffic::Generator::UserName(u), &cu));
    if (!cu.is_new && sample.size() < kSampleUsers) sample.push_back(cu.record);
  }
  out->users_measured = sample.size();
  out->bytes_per_user = users ? (HeapBytes() - before_users) / static_cast<double>(users) : 0;
  store::DiskUsage disk;
  STREAMREC_RETURN_IF_ERROR(store->MeasureDisk(&disk));
  out->disk_bytes_per_user = users ? static_cast<double>(disk.user_bytes) / static_cast<double>(users) : 0;
  out->disk_bytes_per_item = items ? static_cast<double>(disk.item_bytes) / static_cast<double>(items) : 0;
  if (sample.empty()) return Status::Internal("no stored users to score");

  // As the emitter's copy of the items holds them: without the learner's
  // block bounds (those serve the live quality probe and eval).
  ItemMatrixView view = learner.Items();
  view.block_norms = nullptr;
  view.block_biases = nullptr;
  const size_t dim = view.dim;
  const size_t batch = config.emitter.score_batch;
  std::vector<float> queries(sample.size() * dim);
  for (size_t k = 0; k < sample.size(); ++k) learner.QueryVector(*sample[k], {queries.data() + k * dim, dim});

  // The ceiling on as many threads as the scorer uses, each over its share of the items.
  out->threads = std::clamp<size_t>(view.rows / emitter::kMinRowsPerThread, 1, config.emitter.scoring_threads);
  emitter::ScoringThreads threads(out->threads);
  std::vector<std::vector<float>> scratch(out->threads);
  std::vector<float> sinks(out->threads);
  out->scoring_ceiling_lps = ListsPerSecond(sample.size(), [&] {
    for (size_t first = 0; first < sample.size(); first += batch) {
      const size_t count = std::min(batch, sample.size() - first);
      threads.Run([&](size_t t) {
        const size_t begin = view.rows * t / out->threads;
        ItemMatrixView part = view;
        part.embeddings += begin * dim;
        part.biases += begin;
        part.rows = view.rows * (t + 1) / out->threads - begin;
        sinks[t] += emitter::ScoreWithoutSelection(part, {queries.data() + first * dim, count * dim}, count,
                                                   emitter::kMaxBlockRows, &scratch[t]);
      });
    }
  });
  volatile float sink = 0;
  for (float s : sinks) sink = sink + s;

  // The emitter's work per list: query vector, boosts, top-N with exclusions.
  std::vector<std::vector<std::pair<ItemId, float>>> boosts(batch);
  std::vector<emitter::TopNQuery> topn_queries;
  std::vector<std::vector<emitter::ScoredItem>> results;
  std::vector<std::vector<emitter::ScoredItem>> lists(sample.size());  // of the last pass
  double scored_sum = 0;
  size_t score_calls = 0;
  auto topn_lps = [&](emitter::ScoringPrecision precision, const emitter::PackedItems* packed = nullptr) {
    emitter::TopNScorer scorer(config.emitter.top_n, emitter::kMaxBlockRows, precision, config.emitter.scoring_threads);
    scored_sum = 0;
    score_calls = 0;
    return ListsPerSecond(sample.size(), [&] {
      for (size_t first = 0; first < sample.size(); first += batch) {
        const size_t count = std::min(batch, sample.size() - first);
        topn_queries.clear();
        for (size_t k = 0; k < count; ++k) {
          const UserRecord& user = *sample[first + k];
          std::span<float> q(queries.data() + (first + k) * dim, dim);
          learner.QueryVector(user, q);
          learner.Boosts(user, &boosts[k]);
          topn_queries.push_back({q, user.history, boosts[k]});
        }
        scorer.Score(view, topn_queries, &results, packed);
        scored_sum += scorer.scored_fraction();
        ++score_calls;
        for (size_t k = 0; k < count; ++k) lists[first + k] = results[k];
      }
    });
  };
  out->topn_lps = topn_lps(emitter::ScoringPrecision::kFloat32);
  if (learned_ann) STREAMREC_RETURN_IF_ERROR(MeasureAnnLearned(view, queries, learned_ann));
  if (!emitter::Bf16Available()) return Status::Ok();
  const std::vector<std::vector<emitter::ScoredItem>> exact = lists;
  out->topn_bf16_lps = topn_lps(emitter::ScoringPrecision::kBFloat16);
  out->bf16_recall = Recall(exact, lists);
  emitter::PackedItems packed;
  const auto pack_start = Clock::now();
  std::vector<emitter::TopNQuery> sample_queries;
  for (size_t k = 0; k < sample.size(); ++k) sample_queries.push_back({{queries.data() + k * dim, dim}, {}, {}});
  emitter::PackBf16Items(view.embeddings, view.rows, view.dim, &packed,
                         emitter::ByBound{view.biases, emitter::MedianQueryNorm(sample_queries)});
  out->by_bound_pack_ms = std::chrono::duration<double, std::milli>(Clock::now() - pack_start).count();
  out->topn_by_bound_lps = topn_lps(emitter::ScoringPrecision::kBFloat16, &packed);
  out->by_bound_scored = score_calls ? scored_sum / static_cast<double>(score_calls) : 0;
  out->by_bound_recall = Recall(exact, lists);
  return Status::Ok();
}

}  // namespace streamrec::bench
