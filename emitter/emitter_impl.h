// Emitter::Impl, internal to emitter/: the emitter's state. Split over
// emitter_scoring.cpp (per Begin: the item view, the queries, the copy the
// scoring thread reads, the approximate index) and emitter.cpp (per Finish:
// assembly with pins, exploration, fallback and explanations; the publish).
#pragma once

#include <algorithm>
#include <array>
#include <chrono>
#include <deque>
#include <limits>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "common/background_task.h"
#include "emitter/ann_index.h"
#include "emitter/emitter.h"
#include "emitter/item_adjustments.h"
#include "emitter/item_lists.h"
#include "emitter/list_assembly.h"
#include "emitter/topn.h"
#include "kafka/producer.h"

namespace streamrec::emitter {

inline constexpr size_t kMaxCandidates = 4000;

// Candidates scored per user: enough that pins, the exploration pick and the
// per-category limit still leave top_n items.
inline size_t CandidateCount(const EmitterOptions& o, const ListRules& r) {
  size_t n = o.top_n + r.pins.size() + (r.exploration_slot > 0 ? 1 : 0);
  if (r.max_per_category > 0) n += 3 * o.top_n;
  return std::min(n, kMaxCandidates);
}

inline bool Holds(std::span<const ItemId> ids, ItemId id) { return std::find(ids.begin(), ids.end(), id) != ids.end(); }

inline float Dot(std::span<const float> q, const float* e) {
  float s = 0.0F;
  for (size_t d = 0; d < q.size(); ++d) s += q[d] * e[d];
  return s;
}

struct Emitter::Impl {
  // One Begin's lists, from Begin to Finish: the requests, their queries
  // (vectors, exclusions, boosts and what explains them) and their results.
  struct Job {
    std::vector<ListRequest> requests;
    std::vector<float> query_buffer;
    std::vector<std::vector<std::pair<ItemId, float>>> boosts;
    std::vector<std::vector<ItemId>> excluded;
    std::vector<TopNQuery> queries;
    std::vector<std::vector<ScoredItem>> results;  // parallel to queries
    std::vector<uint16_t> variants;  // per request: its experiment variant, or kNoVariant
    uint32_t experiment_tag = 0;     // the experiment they belong to (a reload may start another before Finish)
    bool waiting = false;  // built, handed to the scoring thread when the job before it finishes
    // Written by whichever thread scores the job; read by the caller once the
    // job is finished (after WaitScoring), never while the next job runs.
    std::chrono::steady_clock::duration scoring_time{};
  };

  explicit Impl(EmitterOptions opts)
      : options(std::move(opts)),
        rules(options.rules),
        scorer(CandidateCount(options, rules), kMaxBlockRows, options.Precision(), options.scoring_threads) {}

  // Per Publish: the item view with catalog and rule adjustments, the pins and
  // the exploration candidates.
  void Prepare(const ModelView& model, const catalog::Catalog* catalog);

  // Builds the approximate index once the catalogue is large enough, then
  // keeps it in step: new items at once, changed ones a bounded number per call.
  Status SyncAnn(std::span<const ItemId> changed);

  // The user's best-scoring new item among the newest of the categories of
  // their recent history (kMaxNewScored in all; any category without one).
  std::optional<ScoredItem> PickNewItem(const UserRecord& user, std::span<const float> q,
                                        std::span<const ItemId> excluded, const catalog::Catalog* catalog) const;

  void BuildQueries(const ModelView& model, Job& j);

  // results[k] for every query of `j`: `score_batch` queries per pass over
  // `view`, or candidates from `index` re-ranked exactly when it is given.
  // Touches only the job's queries and results, the scorer, `view` and
  // `index` (the scoring thread runs it, always with `index` null).
  void ScoreAll(const ItemMatrixView& view, Job& j, const PackedItems* packed, const AnnIndex* index);

  // The copy of the item matrix the scoring thread reads: the embeddings
  // when older than snapshot_max_age_ms, the per-item terms (the catalog's
  // availability) every time.
  void RefreshCopy();

  // Builds the queries of `requests` as job and scores them: on the scoring
  // thread against the copy (`background`, below ann_min_items), at once or,
  // when a job is being scored, as soon as it is finished; else here.
  void StartLists(const ModelView& model, const catalog::Catalog* catalog, std::span<const ListRequest> requests,
                  bool background);

  // Hands `j` to the scoring thread, with the item copy refreshed first.
  // Precondition: nothing is being scored.
  void PostScoring(Job& j);

  // Waits for the scoring in flight, if any; its status stays in `scored`.
  void WaitScoring();

  // The trending fallback of a user the personal model knows too little
  // about, topped up from `personal` when trending holds fewer than the list
  // needs; false when the personal list stands.
  // `forced`: the user's variant lists trending only (experiment::ListModel::kTrending).
  bool Fallback(const UserRecord& user, std::span<const ScoredItem> personal,
                std::span<const std::pair<ItemId, float>> boosts, std::span<const ItemId> excluded,
                const catalog::Catalog* catalog, const TrendingLists* trending, bool forced);
  // After a fallback's assembly: its entries drawn from trending say so.
  void MarkTrending();

  // A personal entry is "boosted" when a rule lifted it, "similar_to" when
  // co-occurrence with a recent item contributed.
  // `boosts` sorted by item.
  void Explain(const ModelView& model, const UserRecord& user, std::span<const std::pair<ItemId, float>> boosts);

  // The variant of request `k` of `j`, or null (no experiment, or another one since Begin).
  const experiment::VariantOptions* VariantAt(const Job& j, size_t k) const;
  // The exploration slot of a list in `variant` (null: the rules'); 0: none.
  size_t ExplorationSlot(const experiment::VariantOptions* variant) const;
  // The list just explained is served in the experiment: recorded as such.
  void RecordServed(const Job& j, size_t k, int64_t now_ms);

  // Keeps, in the user's record, the items of the new list that the catalog
  // tracks, and reports the reverse-index changes. Only tracked items can stop
  // being available: a shop without a catalog pays nothing for the index.
  void RecordList(const ListRequest& req, const catalog::Catalog* catalog, std::vector<ListHolderChange>* holders);

  // Assembles, renders and produces the lists of the job, with the live
  // items, the catalog and the rules as they are now.
  Status FinishLists(const ModelView& model, const catalog::Catalog* catalog, const TrendingLists* trending,
                     std::vector<ListHolderChange>* holders);

  EmitterOptions options;
  ListRules rules;
  uint64_t rules_generation = 0;
  TopNScorer scorer;
  ItemAdjustments adjustments;
  std::unique_ptr<kafka::Producer> producer;
  ItemMatrixView items;
  std::vector<std::pair<size_t, ItemId>> pins;  // resolved, available
  // Exploration candidates (rules.exploration_slot), rebuilt by Prepare: the
  // new catalog items by category (-1: none), newest first within each, and
  // the newest of all for users without categories. PickNewItem scores at
  // most kMaxNewScored of them per list, so a catalogue loaded at once (every
  // item new for a week) costs each list a few dot products, not thousands.
  struct FreshItem {
    int64_t category = -1;
    uint32_t age = 0;  // 0: the newest arrival
    ItemId item;
  };
  std::vector<FreshItem> fresh;
  std::vector<ItemId> fresh_newest;
  static constexpr size_t kMaxNewScored = 32;
  std::array<Job, 2> jobs;  // begun and not finished: jobs[oldest], then the next
  size_t oldest = 0;
  size_t open_jobs = 0;
  std::vector<std::vector<ScoredItem>> chunk_results;  // one pass of the scorer
  Status scored;                                       // the scoring thread's status, once waited for
  std::chrono::steady_clock::duration finished_scoring_time{};  // the last finished job's (caller's thread)
  struct ItemCopy {
    std::vector<float> embeddings;
    std::vector<float> biases;
    std::vector<float> listed_biases;  // empty when the model's view has none
    size_t rows = 0;
    size_t dim = 0;
    std::chrono::steady_clock::time_point taken{};
    std::chrono::steady_clock::duration took{};  // the last copy's time
    size_t changes = 0;   // items the events touched since (see EmitterOptions::snapshot_max_age_ms)
    // The copy packed by bound once for all its products (bfloat16 blocks,
    // or float32 rows without AVX-512 BF16): valid when packed.rows == rows.
    PackedItems packed;
    ItemMatrixView view() const {
      return {embeddings.data(), biases.data(), rows, dim, listed_biases.empty() ? nullptr : listed_biases.data()};
    }
  } copy;  // what the scoring thread reads (see RefreshCopy)
  std::vector<SlottedItem> slotted;
  std::vector<ListEntry> entries;
  std::vector<RenderedItem> rendered;
  std::vector<ItemId> new_list;
  experiment::Ledger* ledger = nullptr;  // null: no experiment (SetLedger)
  std::string* preview = nullptr;        // set during Preview: the list goes here, not to Kafka
  std::vector<ItemId> served_items;      // the list being recorded as served
  std::vector<ListReason> served_reasons;
  std::vector<std::span<const ScoredItem>> sources;  // trending lists a fallback draws on
  std::vector<ScoredItem> fallback;  // trending first (fallback_trending of them), then personal
  size_t fallback_trending = 0;
  // Null until the catalogue reaches ann_min_items. Owned by the caller's
  // thread: created, synced (SyncAnn) and searched only there; the scoring
  // thread is never given it, so building it while a job is scored races with nothing.
  std::unique_ptr<AnnIndex> ann;
  std::deque<ItemId> ann_pending;  // changed items not yet re-inserted, oldest first
  std::vector<bool> ann_pending_flag;
  // When SyncAnn last counted the listable items (no index yet, the table large enough).
  int64_t ann_listable_counted_ms = std::numeric_limits<int64_t>::min() / 2;
  std::vector<ItemId> ann_updates;
  std::vector<ItemId> candidates;
  uint64_t published = 0;
  BackgroundTask task{"streamrec-score"};  // last: joined before the buffers it uses go
};

}  // namespace streamrec::emitter
