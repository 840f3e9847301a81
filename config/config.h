// Config: every setting of `streamrec run`, with its default, read from one
// YAML file and overridden by flags. Unknown keys are errors (typos must not
// silently fall back to defaults). The reference is docs/configuration.md.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "common/status.h"
#include "emitter/emitter.h"
#include "emitter/surfaces.h"
#include "experiment/experiment.h"
#include "ingest/decoder.h"
#include "kafka/properties.h"
#include "learner/options.h"
#include "server/status_server.h"
#include "store/store.h"

namespace streamrec::config {

// kafka.bootstrap value that starts the embedded broker in-process (demos, tests).
inline constexpr const char* kEmbeddedBootstrap = "embedded";

struct KafkaConfig {
  // host:port list, or "embedded" for the in-process broker; empty is an
  // error at `run` (no silent in-memory broker).
  std::string bootstrap;
  std::string group_id = "streamrec";
  std::string events_topic = "events";
  std::string dead_letter_topic = "events.dlq";
  std::string recommendations_topic = "recommendations";
  // Compacted topic of item attributes (key = item id), read whole by every
  // instance; "" = no catalog (every item may be recommended).
  std::string catalog_topic = "catalog";
  // Compacted item-level surfaces (see surfaces.*).
  std::string similar_items_topic = "similar-items";
  std::string bought_together_topic = "bought-together";
  std::string trending_topic = "trending";
  // Compacted changelog that moves user state with its partition between the
  // instances of a group; "" = "<group_id>.state". Its partitions must be at
  // least the events topic's.
  std::string state_topic;
  // Where a partition with no stored offset starts: earliest | latest.
  std::string start_from = "earliest";
  // Static group membership (group.instance.id = "streamrec-" + the store's
  // instance id): a restarted instance takes its partitions back at once
  // instead of waiting out its predecessor's session. Trade-off: an instance
  // that stops for good keeps its partitions until session.timeout.ms passes.
  bool static_membership = true;
  // Partitions of the topics streamrec creates, 1..1024.
  int partitions = 4;
  // librdkafka properties for every client (security.protocol, sasl.*, ssl.*).
  kafka::Properties properties;
  kafka::Properties consumer_properties;  // consumer only, applied after `properties`
  kafka::Properties producer_properties;  // producers only, applied after `properties`

  // The item side's updates, which the instances of a group share (scale-out
  // that keeps one model, docs/SCALE_OUT.md); "" = "<group_id>.items". Delete
  // policy, as many partitions as the events topic, a retention longer than
  // the longest outage an instance must bridge (the broker's default: 7 days).
  std::string items_topic;

  std::string StateTopic() const { return state_topic.empty() ? group_id + ".state" : state_topic; }
  std::string ItemsTopic() const { return items_topic.empty() ? group_id + ".items" : items_topic; }
};

struct PipelineConfig {
  size_t batch_max_events = 4096;   // 1..1000000
  int batch_max_wait_ms = 20;       // 0..10000: longest wait for a batch's first event
  int batch_linger_ms = 1;          // 0..1000: how long a batch gathers more after its first event
  size_t user_cache_capacity = 1000000;  // users kept in memory, 1..1e9
  int status_interval_s = 10;       // 0 disables periodic status lines
  // State commits at most this often (0: every batch), 0..60000. Default
  // 1000: a user or item changed by many batches is written once per commit,
  // and lists never wait for a commit; a crash replays up to this much
  // (exactly once all the same). A window due while the last commit's write
  // still runs stays open until it is done, up to 4 intervals (the pipeline
  // learns on instead of waiting). Also commits when the changed users fill
  // half of user_cache_capacity.
  int commit_interval_ms = 1000;
  // A commit window also closes once the records of the items it changed
  // reach about this many MiB, 1..65536. Default 256: a commit copies,
  // encodes and writes its items whole (a popular item's co-occurrence rows
  // take up to 16 KB) and holds them until written; normal traffic stays well
  // below it (10k items at 1 s windows: ~30 MB), a flood of new item ids
  // (700k items changed a second: ~300 MB) is cut into smaller commits.
  // Smaller bounds memory tighter but cuts windows more often (each commit
  // rewrites the popular items' rows: 64 made a mixed flood ~1.5x slower).
  // Reached while the last write runs, consumption waits for it.
  size_t commit_max_item_mb = 256;
  // Exit cleanly after this long without messages; 0 = run until signalled.
  int exit_when_idle_ms = 0;
  // Share of scored live events tested against the user's list before
  // learning, for the live recall/mrr in the status line, [0, 1]. Each test
  // costs one list computation.
  double quality_sample = 0.02;
  // At most this many of those tests a second, 0..100000 (0: no bound). A
  // test scores the user against every item (~0.5 ms at 100k items): the
  // bound keeps the probe's cost flat as traffic grows (20 a second is
  // 72,000 tested events an hour; at 2 % it binds from 1,000 events/s on).
  int quality_max_per_s = 20;
  // Write touched users to the state changelog every batch, so partitions can
  // move between instances (scale-out, rolling restarts) with their state.
  // Default true; false only for a group that will only ever have one member.
  bool state_handoff = true;
  // Publish what this instance's events change on the item side (factors,
  // counts, co-occurrences) to kafka.items_topic and apply the other
  // instances': every instance of a group learns the item side from all of
  // its traffic (docs/SCALE_OUT.md). Default true; false only for a group
  // that will only ever have one member (saves ~1 KB of records an event).
  bool share_items = true;
  // With share_items, also share the users' sessions (their steps go with the
  // item updates): every instance's session neighbours are all the group's
  // users, as one instance's would be. Default true; false leaves each
  // instance its own users' sessions as neighbours, for less CPU (each
  // instance keeps and stores every session: docs/BENCHMARKS.md, Scale-out).
  bool share_sessions = true;
};

struct Config {
  KafkaConfig kafka;
  store::StoreOptions store;
  PipelineConfig pipeline;
  ingest::DecoderLimits decoder;
  learner::LearnerOptions learner;
  emitter::EmitterOptions emitter;
  emitter::SurfaceOptions surfaces;
  server::StatusServerOptions http;
  experiment::ExperimentOptions experiment;
  std::string log_level = "info";

  [[nodiscard]] Status Validate() const;
};

// Builds a Config from an optional YAML file (empty path: defaults only) and
// `overrides` of the form "section.key=value" (e.g. "learner.dim=64").
[[nodiscard]] Status LoadConfig(const std::string& path, const std::vector<std::string>& overrides, Config* out);

// The effective configuration as YAML, secrets masked.
std::string DumpConfig(const Config& config);

}  // namespace streamrec::config
