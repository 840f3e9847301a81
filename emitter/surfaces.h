// SurfaceEmitter: the item-level surfaces, each on its own compacted topic:
//
//   similar-items    key = item id      the items most similar to it
//   bought-together  key = item id      items co-occurring in carts and purchases
//   trending         key = "global", "category:<c>"   time-decayed popularity
//
// An item's two lists are recomputed when events touch it, at most once per
// item_refresh_interval_s, at most max_items_per_batch per call and within the
// caller's deadline (the users' lists come first); an item that
// stops being available makes the similar-items lists that hold it due at
// once (an in-memory reverse index), in line with the others due by then. Trending is rebuilt every
// trending_interval_s, and serves the emitter's fallback for users with
// little history on every instance.
//
// Scale-out (docs/SCALE_OUT.md, "Surfaces from all traffic"): every instance
// holds the item side of the whole group (pipeline/item_exchange.h) and keeps
// every item's due time; an item's two lists are published by the owner of
// its shard, the events partition its id would be keyed to (SurfaceShards),
// and trending by the owner of shard 0. Due items of shards owned elsewhere
// wait here, so that an instance given a shard publishes what its previous
// owner may not have.
//
// An item whose slot the learner gave to a new item (learner.max_items) is
// retracted: a tombstone for its id on similar-items and bought-together, so
// that the compacted topics hold at most about max_items live keys however
// many ids ever arrived.
//
// Lifecycle: Start(), Touch()/Withdraw()/Forget()/Publish()*, Flush(), Stop(). One thread.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>

#include "catalog/catalog.h"
#include "common/status.h"
#include "emitter/emitter.h"
#include "emitter/item_lists.h"
#include "kafka/properties.h"

namespace streamrec::emitter {

struct SurfaceOptions {
  // Publish the three surfaces. Default true.
  bool enabled = true;
  std::string similar_items_topic = "similar-items";
  std::string bought_together_topic = "bought-together";
  std::string trending_topic = "trending";
  // Items per list, 1..1000. Default 20.
  size_t top_n = 20;
  // similar-items score: embedding cosine + cooc_blend x normalised
  // co-occurrence, 0..1e6. Default 20 (as learner.cooc_weight): co-occurrence
  // orders the items it knows, the cosine the rest (docs/QUALITY.md: 1 -> 20
  // lifts recall@20 of the next item from 0.078 to 0.106 on MovieLens);
  // 0 = embeddings only.
  float cooc_blend = 20.0F;
  // An item's lists are recomputed at most this often, s, 0..86400. Default 30.
  int item_refresh_interval_s = 30;
  // Item lists recomputed per batch at most, 1..100000. Default 256 (an
  // item's similar list costs about what a user's list costs).
  size_t max_items_per_batch = 256;
  // Trending lists are rebuilt and published this often, s, 1..86400. Default 10.
  int trending_interval_s = 10;
  std::string model_version = "mf-sgd-1";
  // The decay half-life of the model's item counts, stamped on trending lists.
  int64_t half_life_ms = 0;
  // The similar-items dense pass, as the users' lists (the pipeline passes
  // emitter.precision's): bfloat16 candidates re-scored exactly, or float32.
  ScoringPrecision precision = ScoringPrecision::kFloat32;
  kafka::Properties producer_properties;

  [[nodiscard]] Status Validate() const;
};

// Which surfaces this instance publishes: an item's lists by the owner of its
// shard, kafka::KeyPartition(item id, count), trending by the owner of shard 0.
struct SurfaceShards {
  // The shards (the events topic's partitions), >= 0. 0 when not known (the
  // broker did not say): every item is then of shard 0.
  int32_t count = 0;
  // Whether this instance publishes shard s's lists. Default: every shard (one instance).
  std::function<bool(int32_t)> owns = [](int32_t) { return true; };
};

// How much item-list work a SurfaceEmitter::Publish may do (the users' lists come first).
struct ItemListBudget {
  size_t max_items = SIZE_MAX;  // besides max_items_per_batch; 0: none this time
  std::chrono::steady_clock::time_point deadline = std::chrono::steady_clock::time_point::max();
};

class SurfaceEmitter {
 public:
  explicit SurfaceEmitter(SurfaceOptions options);
  ~SurfaceEmitter();

  [[nodiscard]] Status Start();
  // Items whose neighbourhood changed: their lists become due.
  void Touch(std::span<const ItemId> items, int64_t now_ms);
  // An item that may no longer be listed: similar-items lists holding it are due now.
  void Withdraw(ItemId item, int64_t now_ms);
  // The shards this instance owns from now on (until the first call: every
  // item's, as one instance). A shard newly owned has its parked due items
  // due here again. Call when ownership may have changed, before Forget() and
  // Publish().
  void SetShards(const SurfaceShards& shards);
  // `external_id` left slot `slot` (a new item holds it now): when this
  // instance owns its shard, tombstones its records on similar-items and
  // bought-together (an owner after a move does not retract the previous
  // owner's replaced items); the similar-items lists that held the slot are
  // due now. Call before Publish() of the batch that replaced it.
  [[nodiscard]] Status Forget(std::string_view external_id, ItemId slot, int64_t now_ms);
  // Rebuilds trending when due and publishes it when this instance owns shard
  // 0; publishes the due item lists of the shards it owns, kItemChunk at a
  // time until the budget's deadline (at least one chunk unless its
  // max_items is 0).
  [[nodiscard]] Status Publish(const ModelView& model, const catalog::Catalog* catalog, int64_t now_ms,
                               ItemListBudget budget = {});
  // Item lists scored together; the least work Publish does when any is due.
  static constexpr size_t kItemChunk = 16;
  [[nodiscard]] Status Flush(int timeout_ms);
  [[nodiscard]] Status Stop();

  // The latest trending lists (empty until the first rebuild).
  const TrendingLists& trending() const;
  uint64_t item_lists_published() const;
  uint64_t items_retracted() const;  // items whose records Forget() tombstoned

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Message values (documented in docs/events.md).
std::string RenderItemList(std::string_view kind, std::string_view item_id,
                           std::span<const std::pair<std::string_view, float>> items, std::string_view model_version,
                           int64_t generated_at_ms);
std::string RenderTrending(std::string_view key, std::string_view category,
                           std::span<const std::pair<std::string_view, float>> items, int64_t half_life_ms,
                           int64_t generated_at_ms);

}  // namespace streamrec::emitter
