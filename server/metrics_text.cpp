// MetricsText: /metrics in Prometheus' text format, written by prometheus-cpp
// (its registry and text serializer) from one HealthSnapshot. A registry is
// built per scrape: the snapshot is the pipeline's copy (one owner, handed
// over under the board's lock), so the counters are set from it rather than
// incremented where they happen.
#include <algorithm>
#include <array>
#include <utility>
#include <string>
#include <vector>

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include "server/status_server.h"

namespace streamrec::server {
namespace {

class Scrape {
 public:
  void Counter(const char* name, const char* help, uint64_t value) { Counter(name, help, static_cast<double>(value)); }
  void Counter(const char* name, const char* help, double value) {
    prometheus::BuildCounter().Name(Named(name)).Help(help).Register(registry_).Add({}).Increment(value);
  }
  void Gauge(const char* name, const char* help, double value) { GaugeFamily(name, help).Add({}).Set(value); }
  prometheus::Family<prometheus::Gauge>& GaugeFamily(const char* name, const char* help) {
    return prometheus::BuildGauge().Name(Named(name)).Help(help).Register(registry_);
  }
  prometheus::Family<prometheus::Histogram>& HistogramFamily(const char* name, const char* help) {
    return prometheus::BuildHistogram().Name(Named(name)).Help(help).Register(registry_);
  }
  std::string Text() const { return prometheus::TextSerializer().Serialize(registry_.Collect()); }
  prometheus::Registry& registry() { return registry_; }

 private:
  static std::string Named(const char* name) { return std::string("streamrec_") + name; }
  prometheus::Registry registry_;
};

// A LatencyHistogram as a Prometheus histogram with the same buckets.
void AddHistogram(prometheus::Family<prometheus::Histogram>* family, const prometheus::Labels& labels,
                  const LatencyHistogram& h) {
  static const prometheus::Histogram::BucketBoundaries kBounds(LatencyHistogram::kBoundsMs.begin(),
                                                               LatencyHistogram::kBoundsMs.end());
  const std::vector<double> increments(h.counts().begin(), h.counts().end());  // the last: +Inf
  family->Add(labels, kBounds).ObserveMultiple(increments, h.sum_ms());
}

void AddCounters(const HealthSnapshot& s, Scrape* m) {
  m->Counter("batches_total", "micro-batches committed by this process", s.batches);
  m->Counter("messages_consumed_total", "messages read from the events topic by this process", s.consumed);
  m->Counter("events_applied_total", "valid events applied by this process", s.applied);
  m->Counter("events_rejected_total", "messages sent to the dead-letter topic by this process", s.rejected);
  m->Counter("lists_published_total", "recommendation lists published by this process", s.lists);
  m->Counter("events_lost_total", "events the broker deleted (retention, size limit) before this process read them",
             s.events_lost);
  m->Counter("dead_letters_resent_total",
             "dead letters produced again after a failed delivery (cut in half when too large for the topic)",
             s.dead_letters_resent);
  m->Counter("dead_letters_dropped_total",
             "rejected messages whose dead letter no size could deliver (the topic's max.message.bytes is below its "
             "headers)",
             s.dead_letters_dropped);
  m->Counter("events_unkeyed_total",
             "valid events without a Kafka key: the producer's partitioner spreads a user's events over partitions "
             "(key them by user_id)",
             s.events_unkeyed);
  m->Counter("events_key_mismatch_total",
             "messages whose Kafka key is set and is not their user_id (dead-lettered as key_mismatch:user_id)",
             s.events_key_mismatch);
  m->Counter("users_moved_partition_total",
             "events of a known user on another events partition than their previous event's: their history splits "
             "between instances",
             s.users_moved_partition);
  m->Counter("item_records_published_total",
             "records of this instance's item updates delivered to kafka.items_topic (pipeline.share_items)",
             s.item_records_published);
  m->Counter("item_record_bytes_published_total", "bytes of those records (their values)",
             s.item_record_bytes_published);
  m->Counter("item_records_applied_total",
             "other instances' item update records applied here; once every record is read, the group's sum is "
             "(instances - 1) x the group's published",
             s.item_records_applied);
  m->Counter("item_records_skipped_total",
             "item update records read and not applied: this instance's own, duplicates, or of a partition it consumes",
             s.item_records_skipped);
  m->Counter("item_records_malformed_total",
             "item update records that could not be decoded (another learner.dim, or damaged; logged)",
             s.item_records_malformed);
  m->Counter("live_quality_scored_total",
             "live events tested against the user's list before learning them (pipeline.quality_sample); "
             "recall@N over a window = increase(hits) / increase(scored)",
             s.live_scored);
  m->Counter("live_quality_hits_total", "tested live events whose item was in the user's top-N", s.live_hits);
  m->Counter("live_quality_reciprocal_rank_total",
             "the sum of 1/rank of the tested live events' hits; mrr@N = increase(this) / increase(scored)",
             s.live_reciprocal_rank_sum);
  m->Counter("items_replaced_total", "cold items whose slot a new item took once learner.max_items was reached",
             s.items_replaced);
  m->Counter("items_refused_total",
             "new items not admitted to the full item table (seen less often lately than the coldest)",
             s.items_refused);
  m->Counter("items_retracted_total",
             "replaced items whose similar-items and bought-together records this member tombstoned "
             "(the owner of the partition the item's id is keyed to)",
             s.items_retracted);
  m->Counter("item_lists_published_total",
             "similar-items and bought-together records published by this member (each item's by the owner of "
             "the partition its id is keyed to)",
             s.item_lists_published);
}

void AddGauges(const HealthSnapshot& s, int64_t now_ms, Scrape* m) {
  m->Gauge("up", "1 while commits and deliveries succeed, 0 while one keeps failing", s.problem.empty() ? 1 : 0);
  m->Gauge("lists_pending", "users owed a list refresh (coalesced: each at most once)",
           static_cast<double>(s.lists_pending));
  m->Gauge("list_lag_milliseconds", "how long past its due time the most overdue list is",
           static_cast<double>(std::max<int64_t>(0, s.list_lag_ms)));
  m->Gauge("store_events_applied", "valid events in the store, all runs", static_cast<double>(s.applied_total));
  m->Gauge("users_cached", "user records in the in-memory cache", static_cast<double>(s.users_cached));
  m->Gauge("items", "items known to the learner", static_cast<double>(s.items));
  m->Gauge("assigned_partitions", "events partitions this member owns", static_cast<double>(s.partitions));
  m->Gauge("last_commit_timestamp_seconds", "wall clock of the newest durable commit",
           static_cast<double>(s.last_commit_ms / 1000));
  m->Gauge("store_memory_bytes", "RocksDB's block cache, with the memtables charged to it",
           static_cast<double>(s.store_memory_bytes));
  const int64_t uncommitted_ms = s.uncommitted_since_ms > 0 ? std::max<int64_t>(0, now_ms - s.uncommitted_since_ms) : 0;
  m->Gauge("uncommitted_seconds", "how long the oldest applied change not yet durable has waited (0: none)",
           static_cast<double>(uncommitted_ms / 1000));
  m->Gauge("blend_cooc_weight",
           "the online blend's weight of co-occurrence relative to the factorisation's (learned from the stream)",
           s.blend_cooc_weight);
  m->Gauge("blend_recency_weight",
           "the online blend's weight of recency (log2 decayed count) relative to the factorisation's (learned from "
           "the stream)",
           s.blend_recency_weight);
  m->Gauge("blend_short_recency_weight",
           "the online blend's weight of recency with the short half-life (learner.short_half_life_ms) relative to "
           "the factorisation's (learned from the stream)",
           s.blend_short_recency_weight);
  m->Gauge("blend_session_weight",
           "the online blend's weight of the session neighbours relative to the factorisation's (learned from the "
           "stream)",
           s.blend_session_weight);
  m->Gauge("blend_mf_weight", "the online blend's weight of the factorisation (1 at the start; learned from the stream)",
           s.blend_mf_weight);
  auto& lag = m->GaugeFamily("consumer_lag_messages",
                             "per assigned events partition: messages between this member's position and the end of "
                             "the partition (the broker's high watermark as last fetched)");
  for (const auto& [partition, messages] : s.consumer_lag) {
    lag.Add({{"partition", std::to_string(partition)}}).Set(static_cast<double>(messages));
  }
}

void AddHistograms(const HealthSnapshot& s, Scrape* m) {
  auto& stages = m->HistogramFamily(
      "list_stage_milliseconds",
      "where an event's time goes on its way to a list, per list published (stage total: the event's broker "
      "timestamp to the list's produce call)");
  for (size_t stage = 0; stage < kListStages; ++stage) {
    AddHistogram(&stages, {{"stage", kListStageNames[stage]}}, s.list_stages[stage]);
  }
  auto& commits = m->HistogramFamily(
      "commit_milliseconds",
      "per commit: part seal (copying the changed state and writing the changelog, on the pipeline's thread) and "
      "part write (the RocksDB WriteBatch, on the commit writer's thread)");
  AddHistogram(&commits, {{"part", "seal"}}, s.commit_seal);
  AddHistogram(&commits, {{"part", "write"}}, s.commit_write);
}

void AddExperiment(const HealthSnapshot& s, Scrape* m) {
  if (s.experiment.empty()) return;
  constexpr std::array<const char*, kListReasons> kReasons = {"personal", "similar_to", "trending",
                                                             "new",      "pinned",     "boosted"};
  struct PerVariant {
    const char* name;
    const char* help;
    uint64_t experiment::VariantTally::*field;
  };
  const std::array<PerVariant, 6> per_variant = {{
      {"experiment_users_total", "users whose first list in the experiment this process served", &experiment::VariantTally::users},
      {"experiment_lists_total", "lists served in the experiment (impressions)", &experiment::VariantTally::lists},
      {"experiment_clicks_total",
       "clicks on listed items within the attribution window (each item once per list); CTR = clicks / lists",
       &experiment::VariantTally::clicked},
      {"experiment_carts_total", "add-to-carts of listed items, or of items clicked from a list (each once per list)",
       &experiment::VariantTally::carted},
      {"experiment_purchases_total",
       "purchases of listed items, or of items followed from a list (each once per list); CVR = purchases / lists",
       &experiment::VariantTally::bought},
      {"experiment_units_total", "units of listed items bought within the attribution window", &experiment::VariantTally::units},
  }};
  for (const PerVariant& f : per_variant) {
    auto& family = prometheus::BuildCounter().Name(std::string("streamrec_") + f.name).Help(f.help).Register(m->registry());
    for (size_t v = 0; v < s.variants.size() && v < s.variant_names.size(); ++v) {
      family.Add({{"experiment", s.experiment}, {"variant", s.variant_names[v]}})
          .Increment(static_cast<double>(s.variants[v].*f.field));
    }
  }
  auto& covered = prometheus::BuildGauge()
                      .Name("streamrec_experiment_items_covered")
                      .Help("distinct items the variant's lists showed since this process started (catalogue coverage)")
                      .Register(m->registry());
  auto& revenue = prometheus::BuildCounter()
                      .Name("streamrec_experiment_revenue_total")
                      .Help("price x quantity of listed items bought within the attribution window")
                      .Register(m->registry());
  auto& shown = prometheus::BuildCounter()
                    .Name("streamrec_experiment_items_shown_total")
                    .Help("items in served lists, by the reason they were listed")
                    .Register(m->registry());
  auto& outcomes = prometheus::BuildCounter()
                       .Name("streamrec_experiment_item_outcomes_total")
                       .Help("clicks, add-to-carts and purchases of listed items, by the reason they were listed")
                       .Register(m->registry());
  for (size_t v = 0; v < s.variants.size() && v < s.variant_names.size(); ++v) {
    const experiment::VariantTally& t = s.variants[v];
    const prometheus::Labels labels = {{"experiment", s.experiment}, {"variant", s.variant_names[v]}};
    revenue.Add(labels).Increment(t.revenue);
    covered.Add(labels).Set(static_cast<double>(t.items_covered));
    for (size_t r = 0; r < kListReasons; ++r) {
      prometheus::Labels by_reason = labels;
      by_reason["reason"] = kReasons[r];
      shown.Add(by_reason).Increment(static_cast<double>(t.reasons[r].shown));
      for (const auto& [outcome, count] : {std::pair{"click", t.reasons[r].clicked}, std::pair{"cart", t.reasons[r].carted},
                                           std::pair{"purchase", t.reasons[r].bought}}) {
        prometheus::Labels by_outcome = by_reason;
        by_outcome["outcome"] = outcome;
        outcomes.Add(by_outcome).Increment(static_cast<double>(count));
      }
    }
  }
}

}  // namespace

std::string MetricsText(const HealthSnapshot& s, int64_t now_ms) {
  Scrape m;
  AddGauges(s, now_ms, &m);
  AddCounters(s, &m);
  AddHistograms(s, &m);
  AddExperiment(s, &m);
  return m.Text();
}

}  // namespace streamrec::server
