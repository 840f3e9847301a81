#include <atomic>
#include <chrono>
#include <iostream>
#include <thread>

#include "cli/commands.h"
#include "common/logging.h"
#include "config/config.h"
#include "config/topics.h"
#include "kafka/embedded_broker.h"
#include "pipeline/pipeline.h"
#include "pipeline/rules_watcher.h"

namespace streamrec::cli {
namespace {

// Starts the in-process broker when no bootstrap is configured.
Status StartEmbeddedBroker(config::Config* config, std::unique_ptr<kafka::EmbeddedBroker>* broker) {
  STREAMREC_RETURN_IF_ERROR(kafka::EmbeddedBroker::Start(1, broker));
  for (const kafka::TopicSpec& t : config::StandardTopics(config->kafka)) {
    STREAMREC_RETURN_IF_ERROR((*broker)->CreateTopic(t.name, t.partitions, t.compacted));
  }
  STREAMREC_RETURN_IF_ERROR((*broker)->StartCompaction());
  config->kafka.bootstrap = (*broker)->bootstrap();
  std::cout << "embedded broker at " << config->kafka.bootstrap << std::endl;
  return Status::Ok();
}

// Runs the pipeline until `stop`, or until the embedded broker can no longer
// keep its compacted topics whole (then that error: the lists would be lost).
Status RunBesideBroker(pipeline::Pipeline* pipeline, const kafka::EmbeddedBroker& broker, const std::atomic<bool>& stop) {
  std::atomic<bool> halt{false};
  std::atomic<bool> done{false};
  std::thread watcher([&] {
    while (!done.load()) {
      if (stop.load() || !broker.CompactionStatus().ok()) halt = true;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  });
  Status status = pipeline->Run(halt);
  done = true;
  watcher.join();
  if (Status compaction = broker.CompactionStatus(); !compaction.ok() && status.ok()) return compaction;
  return status;
}

}  // namespace

int CmdRun(const RunArgs& args, const std::atomic<bool>& stop, std::atomic<bool>& reload) {
  auto log = ModuleLogger("app");
  std::vector<std::string> overrides = args.overrides;
  if (!args.bootstrap.empty()) overrides.push_back("kafka.bootstrap=" + args.bootstrap);
  if (!args.data_dir.empty()) overrides.push_back("store.path=" + args.data_dir);
  if (args.exit_when_idle_ms >= 0) overrides.push_back("pipeline.exit_when_idle_ms=" + std::to_string(args.exit_when_idle_ms));
  config::Config config;
  if (Status s = config::LoadConfig(args.config_path, overrides, &config); !s.ok()) {
    std::cerr << "streamrec run: " << s.message() << "\n";
    return 2;
  }
  SetLogLevel(config.log_level);
  if (args.print_config) {
    std::cout << config::DumpConfig(config);
    return 0;
  }

  std::unique_ptr<kafka::EmbeddedBroker> broker;
  if (config.kafka.bootstrap.empty()) {
    // Data a user believes is going to Kafka must not vanish into memory.
    std::cerr << "streamrec run: no broker configured: give --bootstrap HOST:PORT (or kafka.bootstrap) for Kafka,\n"
                 "or --bootstrap embedded for an in-memory broker that keeps nothing (demos and tests)\n";
    return 2;
  }
  if (config.kafka.bootstrap == config::kEmbeddedBootstrap) {
    if (Status s = StartEmbeddedBroker(&config, &broker); !s.ok()) {
      log->error("embedded broker: {}", s.ToString());
      return 1;
    }
  } else {
    kafka::Properties admin = kafka::Merge({{"bootstrap.servers", config.kafka.bootstrap}}, config.kafka.properties);
    std::vector<std::string> created;
    Status s = kafka::EnsureTopics(admin, config::StandardTopics(config.kafka), 10000, &created);
    if (s.code() == StatusCode::kUnauthenticated) {
      log->error("{}", s.message());
      return 2;  // wrong credentials: a restart loop would not mend them
    }
    if (!s.ok()) {
      log->warn("could not create the missing topics ({}); relying on existing or auto-created topics", s.message());
    }
    for (const std::string& topic : created) log->info("created topic {}", topic);
    // Checked at start (Pipeline::Start): a topic created a moment ago may not
    // show in the broker's metadata yet, and would be reported missing.
    if (Status w = kafka::AwaitTopics(admin, created, 10000); !w.ok()) log->warn("{}", w.message());
  }

  server::HealthBoard health;
  server::UserLookups lookups;
  server::StatusServer server(config.http, &health, &lookups);
  if (Status s = server.Start(); !s.ok()) {
    log->error("{}", s.message());
    return 2;
  }
  pipeline::Pipeline pipeline(config, &health, &lookups);
  pipeline::RulesWatcher rules(args.config_path, overrides, {config.emitter.rules, config.experiment}, &reload);
  pipeline.SetRulesSource([&rules] { return rules.Poll(); });
  pipeline.CrashAfterItemRecords(args.crash_after_item_records);
  Status status = pipeline.Start();
  if (status.ok()) status = broker ? RunBesideBroker(&pipeline, *broker, stop) : pipeline.Run(stop);
  if (!status.ok()) log->error("{}", status.ToString());
  Status stopped = pipeline.Stop();
  server.Stop();
  if (!stopped.ok()) log->error("stopping: {}", stopped.ToString());
  // A configuration to fix (topics, credentials), not a fault a restart would mend.
  if (status.code() == StatusCode::kInvalidArgument || status.code() == StatusCode::kUnauthenticated) return 2;
  return status.ok() && stopped.ok() ? 0 : 1;
}

}  // namespace streamrec::cli
