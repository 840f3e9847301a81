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
#include "ingest/decoder.h"
#include "kafka/properties.h"
#include "learner/options.h"
#include "store/store.h"

namespace streamrec::app {

struct KafkaConfig {
  // host:port list; empty: start the embedded broker in-process.
  std::string bootstrap;
  std::string group_id = "streamrec";
  std::string events_topic = "events";
  std::string dead_letter_topic = "events.dlq";
  std::string recommendations_topic = "recommendations";
  // Where a partition with no stored offset starts: earliest | latest.
  std::string start_from = "earliest";
  // Partitions of the topics streamrec creates, 1..1024.
  int partitions = 4;
  // librdkafka properties for every client (security.protocol, sasl.*, ssl.*).
  kafka::Properties properties;
  kafka::Properties consumer_properties;  // consumer only, applied after `properties`
  kafka::Properties producer_properties;  // producers only, applied after `properties`
};

struct PipelineConfig {
  size_t batch_max_events = 4096;   // 1..1000000
  int batch_max_wait_ms = 20;       // 0..10000
  size_t user_cache_capacity = 1000000;  // users kept in memory, 1..1e9
  int status_interval_s = 10;       // 0 disables periodic status lines
  // Exit cleanly after this long without messages; 0 = run until signalled.
  int exit_when_idle_ms = 0;
  // Share of scored live events tested against the user's list before
  // learning, for the live recall/mrr in the status line, [0, 1]. Each test
  // costs one list computation.
  double quality_sample = 0.02;
};

struct Config {
  KafkaConfig kafka;
  store::StoreOptions store;
  PipelineConfig pipeline;
  ingest::DecoderLimits decoder;
  learner::LearnerOptions learner;
  emitter::EmitterOptions emitter;
  std::string log_level = "info";

  [[nodiscard]] Status Validate() const;
};

// Builds a Config from an optional YAML file (empty path: defaults only) and
// `overrides` of the form "section.key=value" (e.g. "learner.dim=64").
[[nodiscard]] Status LoadConfig(const std::string& path, const std::vector<std::string>& overrides, Config* out);

// The effective configuration as YAML, secrets masked.
std::string DumpConfig(const Config& config);

}  // namespace streamrec::app
