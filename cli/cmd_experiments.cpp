// `streamrec experiments`: the running experiment's report, exact, from the state changelog.
#include <iostream>
#include <map>

#include "cli/commands.h"
#include "config/config.h"
#include "experiment/report.h"
#include "kafka/admin.h"
#include "pipeline/experiment_scan.h"

namespace streamrec::cli {

int CmdExperiments(const ExperimentsArgs& args) {
  constexpr const char* kName = "streamrec experiments";
  std::vector<std::string> overrides = args.overrides;
  if (!args.bootstrap.empty()) overrides.push_back("kafka.bootstrap=" + args.bootstrap);
  config::Config config;
  if (Status s = config::LoadConfig(args.config_path, overrides, &config); !s.ok()) {
    std::cerr << kName << ": " << s.message() << "\n";
    return 2;
  }
  if (!config.experiment.enabled()) {
    std::cerr << kName << ": the configuration declares no experiment (section experiment: name and variants)\n";
    return 2;
  }
  if (config.kafka.bootstrap.empty() || config.kafka.bootstrap == config::kEmbeddedBootstrap) {
    std::cerr << kName << ": give --bootstrap HOST:PORT of the pipeline's broker\n";
    return 2;
  }
  const kafka::Properties properties =
      kafka::Merge({{"bootstrap.servers", config.kafka.bootstrap}}, config.kafka.properties);
  const std::string topic = config.kafka.StateTopic();
  std::map<std::string, kafka::TopicInfo> found;
  if (Status s = kafka::DescribeTopics(properties, {topic}, false, args.timeout_ms, &found); !s.ok()) {
    std::cerr << kName << ": " << s.ToString() << "\n";
    return 1;
  }
  if (found.count(topic) == 0) {
    std::cerr << kName << ": no state changelog " << topic << " on " << config.kafka.bootstrap
              << " (kafka.group_id or kafka.state_topic names another group?)\n";
    return 1;
  }
  pipeline::ExperimentScanOptions options;
  options.reader_properties = properties;
  options.state_topic = topic;
  options.partitions = found[topic].partitions;
  options.timeout_ms = args.timeout_ms;
  pipeline::ExperimentScan scan;
  if (Status s = pipeline::ScanExperiment(options, config.experiment, &scan); !s.ok()) {
    std::cerr << kName << ": reading " << topic << ": " << s.ToString() << "\n";
    return 1;
  }
  if (scan.users == 0) {
    std::cerr << kName << ": no user of '" << config.experiment.name << "' in " << topic << " yet (" << scan.records
              << " records read): no list served in it so far, or the pipeline runs with pipeline.state_handoff "
                 "off (then nothing reaches the changelog)\n";
  }
  const experiment::ExperimentReport report = experiment::BuildReport(config.experiment, scan.sums, args.mde);
  if (args.json) {
    std::cout << experiment::ReportJson(report) << "\n";
  } else {
    std::cout << experiment::ReportText(report) << "\n"
              << "(" << scan.users << " users of the experiment, from " << scan.records << " records of " << topic
              << ")\n";
  }
  return 0;
}

}  // namespace streamrec::cli
