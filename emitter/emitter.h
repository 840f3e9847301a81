// Emitter: computes the top-N list of each user touched by a micro-batch and
// publishes it to the recommendations topic (key = user id) through an
// idempotent producer. Each published list advances the user's `seq`
// (NextListSeq) and replaces `UserRecord::list` (its catalog-tracked items); the changes to
// who-holds-which-item are reported so the store can keep its reverse index.
//
// Value: {"user_id", "items": [{"item_id", "score", "reason"}...], "seq",
//         "model_version", "generated_at", "source": {"partition", "offset"}},
//         and "experiment", "variant" while an experiment runs (SetLedger).
//
// Lists respect the catalog (unavailable items never appear) and the
// ListRules (exclusions, boosts, pins, per-category limit, exploration slot).
//
// Two ways to publish, the same code: Publish() scores on the caller's thread
// against the model as it is; Begin()/Finish() (the pipeline) score on the
// emitter's scoring thread, against a copy of the item matrix, while the
// caller goes on learning (see Begin).
//
// Lifecycle: Start(), Publish()* or Begin()/Finish() pairs, Flush() before the
// batch commits, Stop().
// Thread-safety: one thread calls everything; the scoring thread only scores
// the queries Begin() built, against the copy.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "catalog/catalog.h"
#include "common/state.h"
#include "common/status.h"
#include "emitter/rules.h"
#include "emitter/topn.h"
#include "experiment/experiment.h"
#include "kafka/properties.h"

namespace streamrec::emitter {

struct EmitterOptions {
  std::string topic = "recommendations";
  // Items per list, 1..1000. Default 20.
  size_t top_n = 20;
  // Leave out items the user already interacted with. Default true.
  bool exclude_interacted = true;
  // Stamped on every list, so consumers can tell models apart.
  std::string model_version = "mf-sgd-1";
  // Users scored per matrix product, 1..4096. Default 256: each pass over
  // the item matrix (memory-bound at 100k+ items) serves more users; the
  // scorer shrinks its item block so the scores stay in cache.
  size_t score_batch = 256;
  // Arithmetic of the dense pass over all items: "bfloat16" (candidates from
  // AVX-512 BF16 products, twice the list's length, re-scored exactly in
  // float32: ~1.4x the lists/s, recall against float32 ~0.99) or "float32"
  // (exact). Default "bfloat16"; CPUs without AVX-512 BF16 use float32.
  std::string precision = "bfloat16";
  // Threads of the dense pass, the pipeline's own included, 1..64: each
  // scores a share of the items (from 16,384 items per thread on) while the
  // pipeline's thread waits; the lists are those of one thread, bit for bit.
  // Default 1: on this project's 2-vCPU machine two threads score only
  // ~1.25x faster (BM_TopN*/64/2) and take the core the commit writer and
  // RocksDB use, so the pipeline gained nothing; worth it with idle cores.
  size_t scoring_threads = 1;
  ListRules rules;
  // From this many items on, candidates come from an approximate index
  // (hnswlib) and are re-ranked exactly; 0 = always exact. Counted among the
  // items the dense pass lists (a finite bias): items seen too few times
  // (learner.dense_min_events) do not build the index. Default 1,000,000:
  // there exact scoring costs ~2 ms per list at dim 64, the index ~0.15 ms
  // with recall@20 ~0.98 (docs/BENCHMARKS.md). The first build blocks for
  // about a minute per million items (two threads).
  size_t ann_min_items = 1000000;
  // Candidates taken from the index per list, >= top_n. Default 40.
  size_t ann_candidates = 40;
  // Changed items re-inserted into the index per Publish at most (the oldest
  // changes first), 1..1000000. Default 2048; candidates are re-ranked with
  // current embeddings, so a slightly stale graph costs little recall.
  size_t ann_updates_per_batch = 2048;
  // Coalescing (see refresh_queue.h): a user's list is refreshed at most once
  // per this many ms, events in between folded into the next refresh,
  // 0..3600000. Default 0: as soon as the emitter gets to it (a user owed a
  // list is still owed it once, however many events arrive meanwhile).
  // Larger values trade freshness for throughput on very active users.
  int64_t min_refresh_interval_ms = 0;
  // Users owed a list at most, 1..100000000. Default 1,000,000 (~100 MB of
  // entries). Reached, consumption waits for the lists to catch up.
  size_t max_pending_lists = 1000000;
  // While events are waiting in Kafka, item lists (surfaces) get at most
  // this much of the pipeline's time per unit of time spent on the events,
  // 0.01..100. Default 1. Users' lists are scored on the emitter's thread
  // (Begin/Finish) and do not count against it.
  double refresh_share = 1.0;
  // While events are waiting in Kafka, users' lists on the caller's thread
  // (query vectors and boosts in Begin, rendering and publishing in Finish)
  // get at most this much of its time per unit of time spent on the events
  // (the caller starts no new Begin past it),
  // 0.01..100. Default 0.25: under a backlog most of the pipeline's thread
  // learns (events to durable state first), the lists catch up once it
  // clears; below a backlog lists are never held back. Applied by the caller.
  double list_share = 0.25;
  // Begin() scores against a copy of the item embeddings, taken again when
  // older than this many ms, or sooner once the events since the copy
  // touched as many items as it holds (a young model learning fast: a burst
  // learned within 100 ms would otherwise be scored against items from
  // before it); never more often than every 20 times the last copy took (a
  // large catalogue costs at most ~5 % of the caller's time), 0..60000.
  // Default 100: copying 100k items at dim 64 (25 MB) takes ~3 ms; lists may
  // miss the last 100 ms of item updates (new items join the next copy;
  // withdrawn items are left out at Finish). Memory: one more copy of the
  // embeddings, and the copy packed by bound for the dense pass (half of it
  // in bfloat16, as much again in float32).
  int64_t snapshot_max_age_ms = 100;
  kafka::Properties producer_properties;

  [[nodiscard]] Status Validate() const;
  // `precision` as the scorer's enum (bfloat16 only where the CPU has it).
  ScoringPrecision Precision() const;
};

struct ListRequest {
  std::string_view user_id;
  UserRecord* user = nullptr;  // its seq and list are updated
  int32_t source_partition = 0;
  int64_t source_offset = 0;   // the event that triggered this refresh; -1: a catalog change
};

// What the emitter needs from the model, without depending on the learner.
class ModelView {
 public:
  virtual ~ModelView() = default;
  // Item embeddings and per-item score term; valid until the model next changes.
  virtual ItemMatrixView Items() const = 0;
  virtual void QueryVector(const UserRecord& user, std::span<float> out) const = 0;
  // Non-negative score additions for a few items (co-occurrence, session
  // neighbours), each term's weight multiplied by its scale.
  virtual void Boosts(const UserRecord& user, const BoostScales& scales,
                      std::vector<std::pair<ItemId, float>>* out) const = 0;
  // The history item contributing most to `item`'s boost (what explains it):
  // asked only for the few boosted items a list shows.
  virtual ItemId BoostSource(const UserRecord& user, ItemId item) const = 0;
  virtual const std::string& ItemExternalId(ItemId id) const = 0;
  virtual std::optional<ItemId> FindItem(std::string_view external_id) const = 0;
  virtual uint64_t ItemEvents(ItemId id) const = 0;
  // Normalised co-occurrence of `item` with others (basket: carts and purchases only).
  virtual void ItemNeighbors(ItemId item, bool basket, std::vector<std::pair<ItemId, float>>* out) const = 0;
  // Per item: log2 of its time-decayed event count (the trending order).
  virtual std::span<const float> ItemRecency() const = 0;
};

class TrendingLists;

class Emitter {
 public:
  explicit Emitter(EmitterOptions options);
  ~Emitter();

  [[nodiscard]] Status Start();
  // `catalog` may be null (no catalog: every item is available, no labels);
  // `trending` may be null (no fallback for users with little history).
  // Appends the reverse-index changes of the published lists to `holders`.
  // `changed`: items whose embeddings moved since the last call (kept in
  // step in the approximate index, when there is one).
  [[nodiscard]] Status Publish(const ModelView& model, const catalog::Catalog* catalog, const TrendingLists* trending,
                               std::span<const ListRequest> requests, std::span<const ItemId> changed,
                               std::vector<ListHolderChange>* holders);
  // Asynchronous publishing. Begin() builds the requests' queries on the
  // caller's thread (query vectors, exclusions and boosts as of now), and
  // scores them on the emitter's scoring thread against the item copy
  // (taken again when handed over, see snapshot_max_age_ms); Finish() then
  // assembles, renders and produces the lists on the caller's thread with the
  // catalog and rules as they are then, waiting for the scoring if need be.
  // Preconditions of Begin: can_begin(); the requests' user ids and records
  // stay valid until their Finish. Jobs finish in the order they began. From
  // ann_min_items items on, Begin scores on the caller's thread (the
  // approximate index reads the live embeddings).
  [[nodiscard]] Status Begin(const ModelView& model, const catalog::Catalog* catalog,
                             std::span<const ListRequest> requests);
  // A Begin not yet finished.
  bool busy() const;
  // Room for another Begin: at most two are unfinished, the older one being
  // scored, the newer one's queries built and scored as soon as the older
  // one is finished (Finish hands it over before it assembles the older).
  bool can_begin() const;
  // How long the last finished job's scoring took (on the scoring thread, or the
  // caller's with the approximate index). Caller's thread, after Finish.
  std::chrono::steady_clock::duration last_scoring_time() const;
  // The oldest unfinished Begin's scoring is done: Finish will not wait. Never blocks.
  bool ready();
  // The lists of the oldest unfinished Begin, as Publish would have made them (their
  // users' records updated, reverse-index changes appended to `holders`).
  // Ok and nothing done when !busy().
  [[nodiscard]] Status Finish(const ModelView& model, const catalog::Catalog* catalog, const TrendingLists* trending,
                              std::vector<ListHolderChange>* holders);
  // Keeps the approximate index, when there is one, in step with `changed`
  // items, and counts them towards the next item copy (Publish does this
  // itself). Call once per batch of events. Allowed while busy().
  [[nodiscard]] Status UpdateIndex(const ModelView& model, std::span<const ItemId> changed);

  // The list `user` would get now, rendered as published (its reasons
  // included) into *out, without publishing it or counting it anywhere: the
  // same code as Publish, on a copy of the user. For looking one user up.
  // Precondition: !busy().
  [[nodiscard]] Status Preview(const ModelView& model, const catalog::Catalog* catalog, const TrendingLists* trending,
                               std::string_view user_id, UserRecord user, std::string* out);

  // Waits until every published list is delivered.
  [[nodiscard]] Status Flush(int timeout_ms);
  [[nodiscard]] Status Stop();

  // Replaces the rules from the next Publish (or Finish) on; invalid rules
  // are refused. Waits for a scoring in flight.
  [[nodiscard]] Status SetRules(const ListRules& rules);
  const ListRules& rules() const;

  // The experiment's ledger (null: none, the default). While its experiment is
  // enabled, each list is made as its user's variant says (experiment.h),
  // carries the experiment and variant, and is recorded in the user's record
  // and the ledger as served. The ledger must outlive the emitter's use of it;
  // it is read and written on the caller's thread only.
  void SetLedger(experiment::Ledger* ledger);

  uint64_t lists_published() const;
  // Items in the approximate index; 0 while there is none. Caller's thread.
  size_t approximate_index_items() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// One entry of a rendered list.
struct RenderedItem {
  std::string_view item_id;
  float score = 0.0F;
  Reason reason = Reason::kPersonal;
  std::string_view source;  // the item of "similar_to:<item>"
};

// Renders one list message (exposed for tests and offline tools).
// A score as printf's %.6g writes it. std::to_chars: ~60 ns a score here
// against ~100 ns through fmt's precision path, which was ~4 % of the
// pipeline's thread (20 scores a list, ~50k lists a second).
void AppendScore(float score, std::string* out);

// A list's `seq`: 1000 x the user's applied events, plus the lists published
// since their last event without a new one (refreshes after a catalog change),
// at most 999. A list's seq depends only on the user's events, not on how they
// fell into batches: after a crash, or when another instance adopts the user,
// replayed events give lists no higher than those already published, and the
// next new event's list is higher than every one before (readers keep the
// highest seq per user).
inline constexpr uint64_t kSeqPerEvent = 1000;
inline uint64_t NextListSeq(uint64_t seq, uint64_t events) {
  const uint64_t base = events * kSeqPerEvent;
  if (seq < base) return base;
  return std::max(seq, std::min(seq + 1, base + kSeqPerEvent - 1));  // never down
}

// `experiment` and `variant` are left out when empty.
std::string RenderList(std::string_view user_id, std::span<const RenderedItem> items, uint64_t seq,
                       std::string_view model_version, int64_t generated_at_ms, int32_t partition, int64_t offset,
                       std::string_view experiment = {}, std::string_view variant = {});

// "personal", "similar_to:<source>", "trending", "new", "pinned", "boosted".
std::string ReasonText(Reason reason, std::string_view source);

}  // namespace streamrec::emitter
