// The subcommands of the streamrec binary. Each returns the process exit code
// (0 success, 1 runtime failure, 2 bad arguments or a configuration a restart
// would not mend: broken topics, refused credentials) and prints its own errors.
// Flags and the environment are read only in main.cpp; these get plain structs.
#pragma once

#include <atomic>
#include <string>
#include <vector>

#include "traffic/generator.h"

namespace streamrec::cli {

struct RunArgs {
  std::string config_path;
  std::vector<std::string> overrides;  // "section.key=value"
  std::string bootstrap;               // overrides kafka.bootstrap
  std::string data_dir;                // overrides store.path
  int exit_when_idle_ms = -1;          // overrides pipeline.exit_when_idle_ms when >= 0
  uint64_t crash_after_item_records = 0;  // Pipeline::CrashAfterItemRecords (testing)
  bool print_config = false;
};
// `reload` (SIGHUP) asks for the list rules to be re-read; the config file's
// modification time is also watched.
int CmdRun(const RunArgs& args, const std::atomic<bool>& stop, std::atomic<bool>& reload);

struct BrokerArgs {
  int partitions = 4;
  int brokers = 1;
  bool no_compaction = false;  // compacted topics age out like any other
  std::vector<std::string> groups;  // consumer groups besides the default: their <group>.state topics
};
int CmdBroker(const BrokerArgs& args, const std::atomic<bool>& stop);

struct ProduceArgs {
  std::string bootstrap;
  std::string file;          // an event log, or
  std::string catalog_file;  // catalog JSON lines (to the catalog topic)
  std::string topic;         // default "events", or "catalog" with catalog_file
  double rate = 0;  // events/s; 0 = as fast as possible
};
int CmdProduce(const ProduceArgs& args, const std::atomic<bool>& stop);

struct GenerateArgs {
  traffic::GeneratorOptions generator;
  std::string out_file;    // JSON lines; "-" = stdout
  std::string bootstrap;   // or straight to the events topic
  std::string topic = "events";
  std::string truth_file;  // CSV kind,id,segment,category
  std::string catalog_file;   // catalog JSON lines of the generated items
  std::string catalog_topic;  // with bootstrap: also produce that catalog here first
  double rate = 0;
};
int CmdGenerate(const GenerateArgs& args, const std::atomic<bool>& stop);

struct EvalArgs {
  // Event logs, in order; a folder stands for its logs (<folder>/*/events.csv,
  // then its own .csv and .jsonl files, by name).
  std::vector<std::string> events_files;
  std::string config_path;
  std::vector<std::string> overrides;
  size_t n = 20;
  bool json = false;
  bool progress = false;  // force the progress bar when stderr is not a terminal
  std::string report_file;
  bool surfaces = false;  // also score similar-items and trending
  // "NAME[:key=value,...]": configurations of the model side by side (eval/variants.h).
  std::vector<std::string> variants;
};
int CmdEval(const EvalArgs& args);

struct TopicsArgs {
  bool create = false;  // create the missing topics first (`topics create`), else only check
  std::string config_path;
  std::vector<std::string> overrides;  // "section.key=value"
  std::string bootstrap;               // overrides kafka.bootstrap
  int partitions = 0;                  // > 0 overrides kafka.partitions
  int replication_factor = -1;         // -1: the broker's default.replication.factor
  std::vector<std::string> groups;     // more consumer groups: their <group>.state topics
  std::vector<std::string> topic_configs;  // "TOPIC:KEY=VALUE", set at creation
};
// Creates (or only checks) the topics of a configuration on a real cluster:
// exit 0 when they keep the contract run needs, 1 when not or unreachable.
int CmdTopics(const TopicsArgs& args);

struct ExperimentsArgs {
  std::string config_path;              // the pipeline's configuration: its experiment and topics
  std::vector<std::string> overrides;   // "section.key=value"
  std::string bootstrap;                // overrides kafka.bootstrap
  double mde = 0.05;                    // relative change the sample sizes are for
  int timeout_ms = 30000;
  bool json = false;
};
// Prints the configured experiment's report, summed from every user's latest
// record in the state changelog: exit 0, 1 when it cannot be read, 2 on bad arguments.
int CmdExperiments(const ExperimentsArgs& args);

struct StateArgs {
  std::string data_dir = "streamrec-data";
  bool json = false;
};
int CmdState(const StateArgs& args);

}  // namespace streamrec::cli
