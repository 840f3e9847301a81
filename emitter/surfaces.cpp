#include "emitter/surfaces.h"

#include <algorithm>
#include <cmath>
#include <iterator>
#include <limits>
#include <queue>

#include <fmt/format.h>

#include "common/json.h"
#include "common/logging.h"
#include "kafka/producer.h"

namespace streamrec::emitter {
namespace {

constexpr int64_t kNever = std::numeric_limits<int64_t>::max();
// The normalised embedding copy is refreshed at most this often.
constexpr int64_t kPrepareEveryMs = 1000;
// Trending lists keep this many more items than they show, for the fallback's exclusions.
constexpr size_t kTrendingExtra = 200;

void AppendItems(std::span<const std::pair<std::string_view, float>> items, std::string* out) {
  *out += "\"items\":[";
  for (size_t k = 0; k < items.size(); ++k) {
    if (k > 0) *out += ',';
    *out += "{\"item_id\":";
    AppendJsonString(items[k].first, out);
    const float score = std::isfinite(items[k].second) ? items[k].second : 0.0F;
    fmt::format_to(std::back_inserter(*out), ",\"score\":{:.6g}}}", score);
  }
  *out += ']';
}

}  // namespace

Status SurfaceOptions::Validate() const {
  if (top_n < 1 || top_n > 1000) return Status::InvalidArgument("surfaces.top_n must be in 1..1000");
  if (!(cooc_blend >= 0 && cooc_blend <= 1e6F)) return Status::InvalidArgument("surfaces.cooc_blend must be in 0..1e6");
  if (item_refresh_interval_s < 0 || item_refresh_interval_s > 86400) {
    return Status::InvalidArgument("surfaces.item_refresh_interval_s must be in 0..86400");
  }
  if (max_items_per_batch < 1 || max_items_per_batch > 100000) {
    return Status::InvalidArgument("surfaces.max_items_per_batch must be in 1..100000");
  }
  if (trending_interval_s < 1 || trending_interval_s > 86400) {
    return Status::InvalidArgument("surfaces.trending_interval_s must be in 1..86400");
  }
  if (enabled && (similar_items_topic.empty() || bought_together_topic.empty() || trending_topic.empty())) {
    return Status::InvalidArgument("surfaces: topic names must not be empty");
  }
  return Status::Ok();
}

std::string RenderItemList(std::string_view kind, std::string_view item_id,
                           std::span<const std::pair<std::string_view, float>> items, std::string_view model_version,
                           int64_t generated_at_ms) {
  std::string out = "{\"item_id\":";
  AppendJsonString(item_id, &out);
  out += ",\"kind\":";
  AppendJsonString(kind, &out);
  out += ',';
  AppendItems(items, &out);
  out += ",\"model_version\":";
  AppendJsonString(model_version, &out);
  fmt::format_to(std::back_inserter(out), ",\"generated_at\":{}}}", generated_at_ms);
  return out;
}

std::string RenderTrending(std::string_view key, std::string_view category,
                           std::span<const std::pair<std::string_view, float>> items, int64_t half_life_ms,
                           int64_t generated_at_ms) {
  std::string out = "{\"key\":";
  AppendJsonString(key, &out);
  out += ",\"category\":";
  if (category.empty()) {
    out += "null";
  } else {
    AppendJsonString(category, &out);
  }
  out += ',';
  AppendItems(items, &out);
  fmt::format_to(std::back_inserter(out), ",\"half_life_ms\":{},\"generated_at\":{}}}", half_life_ms, generated_at_ms);
  return out;
}

struct SurfaceEmitter::Impl {
  explicit Impl(SurfaceOptions opts)
      : options(std::move(opts)),
        similar(options.top_n, options.cooc_blend, options.precision),
        trending(options.top_n + kTrendingExtra) {}

  void Grow(size_t rows) {
    if (due_at.size() >= rows) return;
    due_at.resize(rows, kNever);
    refreshed_at.resize(rows, std::numeric_limits<int64_t>::min() / 2);
    similar_lists.resize(rows);
    similar_holders.resize(rows);
  }

  void Schedule(ItemId item, int64_t at) {
    Grow(item.value() + 1);
    if (at >= due_at[item.value()]) return;
    due_at[item.value()] = at;
    queue.emplace(at, item.value());
  }

  // Due items of the shards owned, at most `max`; those of other shards are
  // parked (still due) until their shard is owned here.
  void TakeDue(const ModelView& model, int64_t now_ms, size_t max) {
    targets.clear();
    while (!queue.empty() && queue.top().first <= now_ms && targets.size() < max) {
      const auto [at, item] = queue.top();
      queue.pop();
      if (due_at[item] != at) continue;  // rescheduled earlier, or its slot forgotten: this entry is stale
      const size_t shard = static_cast<size_t>(ShardOf(model.ItemExternalId(ItemId(item))));
      if (!owned[shard]) {
        parked[shard].emplace_back(at, item);
        continue;
      }
      due_at[item] = kNever;
      targets.push_back(ItemId(item));
    }
  }

  int32_t ShardOf(std::string_view external_id) const {
    return shard_count > 0 ? kafka::KeyPartition(external_id, shard_count) : 0;
  }

  // The parked items of a shard newly owned are due here again (its previous
  // owner may not have published them).
  void SetShards(const SurfaceShards& shards) {
    if (shards.count != shard_count) {  // the count became known, or the events topic grew
      for (auto& items : parked) Unpark(&items);
      shard_count = std::max(shards.count, 0);
      parked.assign(static_cast<size_t>(std::max(shard_count, 1)), {});
      owned.assign(parked.size(), false);
    }
    for (size_t shard = 0; shard < owned.size(); ++shard) {
      const bool owns = shards.owns(static_cast<int32_t>(shard));
      if (owns && !owned[shard]) Unpark(&parked[shard]);
      owned[shard] = owns;
    }
  }
  void Unpark(std::vector<std::pair<int64_t, uint32_t>>* items) {
    for (const auto& entry : *items) queue.push(entry);
    std::vector<std::pair<int64_t, uint32_t>>().swap(*items);
  }

  // Keeps "which similar lists hold which item" in step with a new list.
  void Remember(ItemId item, const std::vector<ScoredItem>& list) {
    for (ItemId old : similar_lists[item.value()]) std::erase(similar_holders[old.value()], item);
    similar_lists[item.value()].clear();
    for (const ScoredItem& s : list) {
      Grow(s.item.value() + 1);
      similar_lists[item.value()].push_back(s.item);
      similar_holders[s.item.value()].push_back(item);
    }
  }

  Status ProduceList(const std::string& topic, std::string_view kind, const ModelView& model, ItemId item,
                     const std::vector<ScoredItem>& list, int64_t now_ms) {
    named.clear();
    for (const ScoredItem& s : list) named.emplace_back(model.ItemExternalId(s.item), s.score);
    const std::string& key = model.ItemExternalId(item);
    return producer->Produce(topic, key, RenderItemList(kind, key, named, options.model_version, now_ms));
  }

  Status PublishItems(const ModelView& model, const ItemFilter& allowed, int64_t now_ms,
                      ItemListBudget budget) {
    size_t left = std::min(options.max_items_per_batch, budget.max_items);
    const std::chrono::steady_clock::time_point deadline = budget.deadline;
    while (left > 0) {
      TakeDue(model, now_ms, std::min(left, SurfaceEmitter::kItemChunk));
      if (targets.empty()) break;
      left -= targets.size();
      STREAMREC_RETURN_IF_ERROR(PublishChunk(model, allowed, now_ms));
      if (std::chrono::steady_clock::now() >= deadline) break;
    }
    producer->Poll(0);
    return Status::Ok();
  }

  Status PublishChunk(const ModelView& model, const ItemFilter& allowed, int64_t now_ms) {
    if (now_ms - prepared_at >= kPrepareEveryMs) {
      similar.Prepare(model, allowed);
      prepared_at = now_ms;
    }
    similar.Score(model, targets, {}, &results);
    for (size_t k = 0; k < targets.size(); ++k) {
      const ItemId item = targets[k];
      // The copy may be up to a second old: drop what became unavailable since.
      std::erase_if(results[k], [&](const ScoredItem& s) { return !allowed(s.item); });
      STREAMREC_RETURN_IF_ERROR(
          ProduceList(options.similar_items_topic, "similar-items", model, item, results[k], now_ms));
      Remember(item, results[k]);
      BoughtTogether(model, item, options.top_n, allowed, &basket);
      STREAMREC_RETURN_IF_ERROR(
          ProduceList(options.bought_together_topic, "bought-together", model, item, basket, now_ms));
      refreshed_at[item.value()] = now_ms;
      published += 2;
    }
    return Status::Ok();
  }

  Status PublishTrending(const ModelView& model, const catalog::Catalog* catalog, int64_t now_ms) {
    auto produce = [&](std::string_view key, std::string_view category, std::span<const ScoredItem> list) {
      named.clear();
      for (const ScoredItem& s : list.first(std::min(list.size(), options.top_n))) {
        named.emplace_back(model.ItemExternalId(s.item), s.score);
      }
      return producer->Produce(options.trending_topic, key,
                               RenderTrending(key, category, named, options.half_life_ms, now_ms));
    };
    STREAMREC_RETURN_IF_ERROR(produce("global", "", trending.global()));
    for (size_t c = 0; catalog && c < trending.category_count(); ++c) {
      const catalog::CategoryId id(static_cast<uint32_t>(c));
      if (trending.category(id).empty()) continue;
      const std::string& name = catalog->CategoryName(id);
      STREAMREC_RETURN_IF_ERROR(produce("category:" + name, name, trending.category(id)));
    }
    producer->Poll(0);
    return Status::Ok();
  }

  SurfaceOptions options;
  SimilarItemsScorer similar;
  TrendingLists trending;
  std::unique_ptr<kafka::Producer> producer;
  std::vector<int64_t> due_at;        // per item: when its lists are due, kNever if not scheduled
  std::vector<int64_t> refreshed_at;  // per item: last recomputation
  std::priority_queue<std::pair<int64_t, uint32_t>, std::vector<std::pair<int64_t, uint32_t>>, std::greater<>> queue;
  // Per shard: whether this instance owns it (as of the last Publish), and
  // its due items taken from the queue while it did not: (due time, item).
  int32_t shard_count = 0;
  std::vector<bool> owned = {true};  // until SetShards: one shard, this instance's
  std::vector<std::vector<std::pair<int64_t, uint32_t>>> parked = {{}};
  std::vector<std::vector<ItemId>> similar_lists;    // per item: its last similar-items list
  std::vector<std::vector<ItemId>> similar_holders;  // per item: items whose similar list holds it
  std::vector<ItemId> targets;
  std::vector<std::vector<ScoredItem>> results;
  std::vector<ScoredItem> basket;
  std::vector<std::pair<std::string_view, float>> named;
  int64_t prepared_at = std::numeric_limits<int64_t>::min() / 2;
  int64_t trending_at = std::numeric_limits<int64_t>::min() / 2;
  uint64_t published = 0;
  uint64_t retracted = 0;
};

SurfaceEmitter::SurfaceEmitter(SurfaceOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {}
SurfaceEmitter::~SurfaceEmitter() = default;

Status SurfaceEmitter::Start() {
  STREAMREC_RETURN_IF_ERROR(impl_->options.Validate());
  if (!impl_->options.enabled) return Status::Ok();
  kafka::ProducerOptions popts;
  popts.properties = impl_->options.producer_properties;
  popts.idempotent = true;
  popts.warm_topics = {impl_->options.similar_items_topic, impl_->options.bought_together_topic,
                       impl_->options.trending_topic};
  STREAMREC_RETURN_IF_ERROR(kafka::Producer::Create(popts, &impl_->producer).WithContext("surfaces producer"));
  ModuleLogger("emitter")->info("publishing item surfaces to {}, {} and {}", impl_->options.similar_items_topic,
                                impl_->options.bought_together_topic, impl_->options.trending_topic);
  return Status::Ok();
}

void SurfaceEmitter::Touch(std::span<const ItemId> items, int64_t now_ms) {
  if (!impl_->options.enabled) return;
  const int64_t interval_ms = int64_t{impl_->options.item_refresh_interval_s} * 1000;
  for (ItemId item : items) {
    impl_->Grow(item.value() + 1);
    impl_->Schedule(item, std::max(now_ms, impl_->refreshed_at[item.value()] + interval_ms));
  }
}

void SurfaceEmitter::Withdraw(ItemId item, int64_t now_ms) {
  if (!impl_->options.enabled || item.value() >= impl_->similar_holders.size()) return;
  for (ItemId holder : impl_->similar_holders[item.value()]) impl_->Schedule(holder, now_ms);
}

void SurfaceEmitter::SetShards(const SurfaceShards& shards) { impl_->SetShards(shards); }

Status SurfaceEmitter::Forget(std::string_view external_id, ItemId slot, int64_t now_ms) {
  if (!impl_->options.enabled) return Status::Ok();
  Withdraw(slot, now_ms);
  if (slot.value() < impl_->refreshed_at.size()) {
    // The new item's lists are its own, not a refresh of the old one's; if
    // due, by the new id's shard: queued again (a copy parked by the old
    // id's may be left; whichever comes first publishes, the other is stale).
    impl_->refreshed_at[slot.value()] = std::numeric_limits<int64_t>::min() / 2;
    if (impl_->due_at[slot.value()] != kNever) impl_->queue.emplace(impl_->due_at[slot.value()], slot.value());
  }
  if (!impl_->owned[static_cast<size_t>(impl_->ShardOf(external_id))]) return Status::Ok();
  // A null value: the compacted topics drop the key.
  for (const std::string* topic : {&impl_->options.similar_items_topic, &impl_->options.bought_together_topic}) {
    STREAMREC_RETURN_IF_ERROR(impl_->producer->Produce(*topic, external_id, std::string_view()));
  }
  impl_->retracted += 1;
  return Status::Ok();
}

Status SurfaceEmitter::Publish(const ModelView& model, const catalog::Catalog* catalog, int64_t now_ms,
                               ItemListBudget budget) {
  const ItemFilter allowed = [catalog](ItemId id) { return catalog == nullptr || catalog->Available(id); };
  const bool trending_due = now_ms - impl_->trending_at >= int64_t{impl_->options.trending_interval_s} * 1000;
  if (trending_due) {
    impl_->trending.Build(model, catalog, allowed);
    impl_->trending_at = now_ms;
  }
  if (!impl_->options.enabled) return Status::Ok();
  if (trending_due && impl_->owned[0]) STREAMREC_RETURN_IF_ERROR(impl_->PublishTrending(model, catalog, now_ms));
  return impl_->PublishItems(model, allowed, now_ms, budget);
}

Status SurfaceEmitter::Flush(int timeout_ms) {
  return impl_->producer ? impl_->producer->Flush(timeout_ms) : Status::Ok();
}

Status SurfaceEmitter::Stop() {
  if (!impl_->producer) return Status::Ok();
  Status s = impl_->producer->Flush(10000);
  impl_->producer.reset();
  return s;
}

const TrendingLists& SurfaceEmitter::trending() const { return impl_->trending; }
uint64_t SurfaceEmitter::item_lists_published() const { return impl_->published; }
uint64_t SurfaceEmitter::items_retracted() const { return impl_->retracted; }

}  // namespace streamrec::emitter
